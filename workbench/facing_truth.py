"""The sample generator's facing side of each photo, replayed from its seed (for scoring only).

The generator does not write the side into the manifest; it is fixed by the photo's random
draws. :func:`sample_sides` replays them: for each photo, the first framing attempt the renderer
accepts, then that attempt's pose and frame (``mirror`` +1: the head points to the right of the
picture, -1: to the left). Side views (``stand``, ``lie``) get their side; ``sit`` (the body
seen from the front) and ``closeup`` get 0 (no clear side).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from workbench.synth import render as rnd
from workbench.synth.animals import parts_box
from workbench.synth.config import SynthConfig
from workbench.synth.dataset import FORMAT, MARKER, is_sample_dataset
from workbench.synth.plan import plan
from workbench.synth.poses import POSE_WEIGHTS, POSES, pose_parts

SIDE_POSES = ("stand", "lie")


def _side(photo, config: SynthConfig) -> tuple[str, int]:
    key = (config.seed, int(photo.post_id), photo.photo)
    h, w = config.height * rnd.SUPERSAMPLE, config.width * rnd.SUPERSAMPLE
    for attempt in range(rnd.ATTEMPTS):
        k = (*key, attempt)
        out = rnd._attempt(photo.identity, list(photo.artifacts), config.look, config.height,
                           config.width, k, False)  # fmt: skip
        if out is None:
            continue
        scene = np.random.default_rng([*k, 0])
        weights = np.asarray(POSE_WEIGHTS[photo.identity.species])
        pose = POSES[scene.choice(len(POSES), p=weights / weights.sum())]
        parts, _ = pose_parts(photo.identity, pose, scene)
        box = parts_box(parts[2:] if pose == "closeup" else parts)
        frame = rnd._frame(box, pose, scene, h, w)
        if pose != out.pose:
            raise RuntimeError(f"replaying photo {key} gave pose {pose}, the renderer {out.pose}")
        return pose, int(frame.mirror)
    raise RuntimeError(f"photo {key}: no framing attempt succeeded when replayed")


def sample_sides(
    folder: str | Path,
    images: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[str, int]]:
    """Manifest image -> (pose, side) for a dataset written by ``workbench generate``
    (only ``images`` when given). ValueError for any other folder."""  # fmt: skip
    folder = Path(folder)
    if not is_sample_dataset(folder):
        raise ValueError(f"{folder} was not written by the sample generator (no {MARKER})")
    info = json.loads((folder / MARKER).read_text())
    if info.get("format") != FORMAT:
        raise ValueError(
            f"{folder} was written by format {info.get('format')} of the generator; this one "
            f"writes format {FORMAT} and cannot replay its facing sides (the shipped sample is "
            "format 1): generate a dataset with `workbench generate` to have replayable sides"
        )
    fields = info["config"]
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(SynthConfig)})
    if unknown:
        raise ValueError(
            f"{folder} was written by another version of the generator (unknown options "
            f"{', '.join(unknown)}); its facing sides cannot be replayed by this one"
        )
    config = SynthConfig(**fields)
    wanted = set(images) if images is not None else None
    todo = [p for p in plan(config)
            if wanted is None or f"{p.split}/{p.post_id}_{p.photo}.jpg" in wanted]  # fmt: skip
    out = {}
    for i, p in enumerate(todo):
        pose, mirror = _side(p, config)
        out[f"{p.split}/{p.post_id}_{p.photo}.jpg"] = (pose, mirror)
        if progress is not None:
            progress(i + 1, len(todo))
    return out


def side_truth(sides: dict[str, tuple[str, int]]) -> dict[str, int]:
    """Image -> +1/-1 for side views, 0 for poses without a clear side."""
    return {img: (m if pose in SIDE_POSES else 0) for img, (pose, m) in sides.items()}
