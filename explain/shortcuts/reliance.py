"""Reliance of one photo on its candidate regions: the similarity drop when a region is removed,
minus the drop when equal-area control regions elsewhere on the animal are removed.

The similarity is the one the model matches with: the mean cosine similarity of the photo's
embedding to its post-mates' (the other photos of the post, unedited), or, for a post of one
photo, to the photo's own unedited embedding (``reference="self"``, recorded in the rows).

``drop(m) = s(photo) - s(photo with m removed)`` for the region and each of its controls;
``reliance = drop(region) - mean(drop(controls))``: positive when the region is worth more to
the match than as many animal pixels elsewhere. ``control_std`` is the spread of the control
drops (the noise a reliance has to beat).

Removal (``fill``):

- ``telea`` (default): OpenCV's fast-marching inpainting (``cv2.inpaint``, ``INPAINT_TELEA``,
  radius 5 pixels at the input size). The region is painted with the colours around it, so a
  colour cue (a red tongue, green grass, a white glare) disappears.
- ``blur``: the region replaced by a strong Gaussian blur of the photo (sigma 8 pixels). Cheaper
  but keeps the region's mean colour: a blurred tongue is still a red blob, so it under-states
  reliance on colour cues; offered for comparison.

All edited copies of one photo (the unedited copy, every region, every control) run in one batch
through the project's inference engine (:mod:`explain.models.engine`). Their embeddings are
cached (:class:`explain.storage.cache.DiskCache`, namespace ``shortcuts``) under a key of the
checkpoint's hash, the image's hash, the region's hash, the fill, the control settings and
:data:`VERSION`; the drops are recomputed from them (the post-mates may change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from explain.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from explain.shortcuts.regions import Region, control_masks
from explain.storage.cache import DiskCache, make_key

VERSION = 1  # bump when a fill, the control placement or the stored arrays change
FILLS = ("telea", "blur")
NAMESPACE = "shortcuts"
Forward = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, H, W) -> (N, D)


@dataclass(frozen=True)
class ControlSettings:
    """How controls are placed (:func:`explain.shortcuts.regions.control_masks`)."""

    n: int = 4
    seed: int = 0
    min_animal: float = 0.7
    max_overlap: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= int(self.n) <= 64:
            raise ValueError(f"the number of controls must lie in [1, 64], got {self.n}")
        for name in ("min_animal", "max_overlap"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")


DEFAULT_CONTROLS = ControlSettings()


def fill(image: np.ndarray, mask: np.ndarray, method: str = "telea") -> np.ndarray:
    """``image`` ``(H, W, 3)`` uint8 with the pixels of ``mask`` ``(H, W)`` removed (see the
    module docstring); a new array."""
    if method not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}, not {method!r}")
    m = mask.astype(bool)
    if not m.any():
        return image.copy()
    if method == "telea":
        return cv2.inpaint(image, m.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=8.0)
    out = image.copy()
    out[m] = blurred[m]
    return out


def to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """``(H, W, 3)`` uint8 images -> normalised ``(N, 3, H, W)`` float32 (torchreid's test
    normalisation, the images already at the input size)."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def region_key(checkpoint_sha1: str, image_sha1: str, region: Region, fill_method: str,
               controls: ControlSettings) -> str:  # fmt: skip
    """Cache key of one region's edited-copy embeddings."""
    return make_key(
        NAMESPACE, version=VERSION, checkpoint=checkpoint_sha1, image=image_sha1,
        region=region.digest(), fill=fill_method, controls=[controls.n, controls.seed,
        controls.min_animal, controls.max_overlap],
    )  # fmt: skip


def _control_seed(image_sha1: str, region: Region, seed: int) -> int:
    blob = f"{image_sha1}:{region.digest()}:{seed}".encode()
    return int(hashlib.sha1(blob).hexdigest()[:8], 16)


def edited_embeddings(
    forward: Forward,
    image: np.ndarray,
    animal: np.ndarray,
    regions: Sequence[Region],
    *,
    checkpoint_sha1: str,
    image_sha1: str,
    fill_method: str = "telea",
    controls: ControlSettings = DEFAULT_CONTROLS,
    cache: DiskCache | None = None,
) -> tuple[np.ndarray, list[dict[str, np.ndarray]], int]:
    """Embeddings of the unedited ``image`` and of its edited copies, one batch for the photo.

    ``image`` ``(H, W, 3)`` uint8 at the input size; ``animal`` ``(H, W)`` bool. Returns
    ``(clean (D,), per region {"region": (D,), "controls": (C, D), "coverage": (C,)}, computed)``
    where ``computed`` counts the regions not read from ``cache``. The clean embedding is always
    computed (one image), so drops compare copies made by the same pipeline.
    """
    found: list[dict[str, np.ndarray] | None] = []
    for r in regions:
        hit = cache.get(region_key(checkpoint_sha1, image_sha1, r, fill_method, controls)) \
            if cache is not None else None  # fmt: skip
        found.append(hit)
    copies = [image]
    plan: list[tuple[int, int, list[float]]] = []  # (region index, first copy, coverage)
    for i, (r, hit) in enumerate(zip(regions, found, strict=True)):
        if hit is not None:
            continue
        ctrl, coverage = control_masks(
            r.mask, animal, controls.n, _control_seed(image_sha1, r, controls.seed),
            min_animal=controls.min_animal, max_overlap=controls.max_overlap,
        )  # fmt: skip
        plan.append((i, len(copies), coverage))
        copies.append(fill(image, r.mask, fill_method))
        copies.extend(fill(image, m, fill_method) for m in ctrl)
    feats = forward(to_batch(copies)).detach().float().cpu().numpy()
    dim = feats.shape[1]
    out: list[dict[str, np.ndarray]] = [h for h in found]  # type: ignore[misc]
    for i, start, coverage in plan:
        n = len(coverage)
        entry = {
            "region": feats[start].astype(np.float32),
            "controls": feats[start + 1 : start + 1 + n].astype(np.float32).reshape(n, dim),
            "coverage": np.asarray(coverage, np.float32),
        }
        out[i] = entry
        if cache is not None:
            cache.put(region_key(checkpoint_sha1, image_sha1, regions[i], fill_method, controls),
                      entry)  # fmt: skip
    return feats[0].astype(np.float32), out, len(plan)  # type: ignore[return-value]


def drops(
    clean: np.ndarray, edited: dict[str, np.ndarray], mates: np.ndarray | None
) -> dict[str, object]:
    """The drops of one region (see the module docstring).

    ``clean`` ``(D,)``, ``edited`` as returned by :func:`edited_embeddings`, ``mates``
    ``(M, D)`` the post-mates' embeddings (None or empty: the reference is the photo itself).
    Returns ``drop``, ``control_drops`` (list), ``control_mean``, ``control_std``, ``reliance``
    (NaN when no control could be placed), ``reference`` (``postmates`` or ``self``).
    """
    c = _unit(clean)
    if mates is not None and len(mates):
        ref, reference = _unit(mates), "postmates"
    else:
        ref, reference = c[None], "self"

    def sim(v: np.ndarray) -> float:
        return float((ref @ _unit(v)).mean())

    base = sim(c)
    drop = base - sim(edited["region"])
    ctrl = [base - sim(v) for v in np.asarray(edited["controls"]).reshape(-1, c.shape[0])]
    mean = float(np.mean(ctrl)) if ctrl else float("nan")
    std = float(np.std(ctrl)) if ctrl else float("nan")
    return {
        "similarity": base,
        "drop": drop,
        "control_drops": [round(v, 5) for v in ctrl],
        "control_mean": mean,
        "control_std": std,
        "reliance": drop - mean if ctrl else float("nan"),
        "reference": reference,
    }
