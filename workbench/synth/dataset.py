"""The sample dataset: which posts exist, which photos carry which artifacts, and the files.

:func:`plan` decides everything from the seed alone (identities, splits, planted artifacts,
decoys); :func:`generate` renders the plan into torchreid's folder layout plus masks,
counterfactuals and ``manifest.csv``. Random draws come from streams keyed by
``(seed, post_id, ...)``, so a photo does not depend on the order in which it is rendered.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from workbench.synth.animals import Identity, lookalike, random_identity
from workbench.synth.artifacts import ARTIFACTS, ArtifactLook, jitter, random_look
from workbench.synth.render import LOOKS, Rendered, render

SPLITS = ("train", "query", "gallery")
MARKER = "synth.json"
GENERATOR = "workbench.synth"
COLUMNS = (
    "image",
    "post_id",
    "photo",
    "split",
    "camid",
    "species",
    "look",
    "animal_mask",
    "artifacts",
    *(f"mask_{a}" for a in ARTIFACTS),
    "counterfactual",
    "homogeneous_artifact",
    "polluted",
    "decoy_of",
)
FIRST_POST_ID = 10000
LAST_POST_ID = 99999


@dataclass(frozen=True)
class SynthConfig:
    """Options of the sample dataset; the defaults are the shipped sample.

    Counts are posts (one post = one animal). ``n_test_ids`` animals appear in query and
    gallery; ``n_query_without_gallery`` extra query posts (look-alikes of test animals) have no
    gallery photo; ``n_gallery_distractors`` extra gallery-only posts, ``decoy_fraction`` of them
    built as look-alikes of a test query. Rates are per photo, fractions per post.
    ``height``/``width`` are the image size in pixels.
    """

    seed: int = 0
    n_train_ids: int = 80
    n_test_ids: int = 60
    n_gallery_distractors: int = 10
    n_query_without_gallery: int = 2
    photos_min: int = 3
    photos_max: int = 6
    look: str = "segmented"
    height: int = 256
    width: int = 128
    counterfactual: bool = True
    polluted_fraction: float = 0.25
    random_artifact_rate: float = 0.1
    test_artifact_rate: float = 0.12
    mismatch_fraction: float = 0.25
    decoy_fraction: float = 0.7
    dog_fraction: float = 0.55
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "float": (int, float), "bool": bool, "str": str}[str(f.type)]
            if isinstance(value, bool) != (f.type == "bool") or not isinstance(value, want):
                raise ValueError(f"{f.name} must be a {f.type}, not {value!r}")
        for name in (
            "n_train_ids",
            "n_test_ids",
            "n_gallery_distractors",
            "n_query_without_gallery",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.n_posts == 0:
            raise ValueError("the dataset would be empty; set n_train_ids or n_test_ids above 0")
        if self.n_posts > LAST_POST_ID - FIRST_POST_ID + 1:
            raise ValueError(f"{self.n_posts} posts is too many; at most 90000 post ids exist")
        if self.photos_min < 2:
            raise ValueError(
                f"photos_min must be at least 2 (a test animal needs a query and a gallery "
                f"photo), not {self.photos_min}"
            )
        if self.photos_max < self.photos_min:
            raise ValueError(
                f"photos_min ({self.photos_min}) is larger than photos_max ({self.photos_max}); "
                "swap them or raise photos_max"
            )
        if self.photos_max > 50:
            raise ValueError(f"photos_max must be at most 50, not {self.photos_max}")
        if self.look not in LOOKS:
            raise ValueError(f"look must be one of {', '.join(LOOKS)}, not {self.look!r}")
        if self.height < 32 or self.width < 16:
            raise ValueError(f"images must be at least 32x16 (HxW), not {self.height}x{self.width}")
        for name in (
            "polluted_fraction",
            "random_artifact_rate",
            "test_artifact_rate",
            "mismatch_fraction",
            "decoy_fraction",
            "dog_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {getattr(self, name)}")
        if not 50 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be between 50 and 100, not {self.jpeg_quality}")

    @property
    def n_posts(self) -> int:
        return (
            self.n_train_ids
            + self.n_test_ids
            + self.n_gallery_distractors
            + self.n_query_without_gallery
        )


@dataclass(frozen=True)
class PhotoPlan:
    """One photo to render: who, where, and which artifacts to plant."""

    split: str
    post_id: str
    photo: int
    identity: Identity
    artifacts: tuple[ArtifactLook, ...] = ()
    homogeneous: str = ""
    decoy_of: str = ""


def _rng(config: SynthConfig, post: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, post, stream])


def _species(config: SynthConfig, rng: np.random.Generator) -> str:
    return "dog" if rng.random() < config.dog_fraction else "cat"


def _random_artifact(rng: np.random.Generator, exclude: str = "") -> ArtifactLook:
    kinds = [k for k in ARTIFACTS if k != exclude]
    return random_look(kinds[int(rng.integers(len(kinds)))], rng)


def plan(config: SynthConfig) -> list[PhotoPlan]:
    """Every photo of the dataset, sorted by split (train, query, gallery), post and photo."""
    g = np.random.default_rng([config.seed, 0])
    span = LAST_POST_ID - FIRST_POST_ID + 1
    ids = [str(FIRST_POST_ID + int(i)) for i in g.choice(span, config.n_posts, replace=False)]
    cuts = np.cumsum([config.n_train_ids, config.n_test_ids, config.n_query_without_gallery])
    train, test, lonely, distractors = (
        sorted(str(x) for x in part) for part in np.split(np.asarray(ids), cuts)
    )
    idents = {
        p: random_identity(_rng(config, int(p), 1), _species(config, _rng(config, int(p), 5)))
        for p in (*train, *test)
    }
    photos: list[PhotoPlan] = []
    n_polluted = round(config.polluted_fraction * len(train))
    polluted = list(g.choice(len(train), n_polluted, replace=False)) if n_polluted else []
    kinds = {train[i]: ARTIFACTS[k % len(ARTIFACTS)] for k, i in enumerate(polluted)}
    for post in train:
        photos += _train_post(config, post, idents[post], kinds.get(post, ""))
    queries: dict[str, list[PhotoPlan]] = {}
    for post in test:
        post_photos = _test_post(config, post, idents[post])
        queries[post] = [p for p in post_photos if p.split == "query"]
        photos += post_photos
    n_decoys = round(config.decoy_fraction * len(distractors))
    decoys = {str(x) for x in g.choice(distractors, n_decoys, replace=False)} if n_decoys else set()
    used: set[str] = set()
    for post in sorted(set(lonely) | set(distractors)):
        split = "query" if post in lonely else "gallery"
        if queries and (post in decoys or split == "query"):
            photos += _decoy_post(config, post, split, queries, used, g, idents)
        else:
            ident = random_identity(
                _rng(config, int(post), 1), _species(config, _rng(config, int(post), 5))
            )
            photos += _plain_post(config, post, split, ident)
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(photos, key=lambda p: (order[p.split], p.post_id, p.photo))


def _count(config: SynthConfig, post: str) -> int:
    return int(_rng(config, int(post), 2).integers(config.photos_min, config.photos_max + 1))


def _train_post(config: SynthConfig, post: str, ident: Identity, kind: str) -> list[PhotoPlan]:
    n = _count(config, post)
    rng = _rng(config, int(post), 3)
    arts: list[list[ArtifactLook]] = [[] for _ in range(n)]
    if kind:
        look = random_look(kind, _rng(config, int(post), 4))
        for a in arts:
            a.append(jitter(look, rng))
    for a in arts:
        if rng.random() < config.random_artifact_rate:
            a.append(_random_artifact(rng, exclude=kind))
    if not kind and all(arts):  # never the same situation in every photo of a clean post
        arts[int(rng.integers(n))] = []
    return [
        PhotoPlan("train", post, i + 1, ident, tuple(a), homogeneous=kind)
        for i, a in enumerate(arts)
    ]


def _test_post(config: SynthConfig, post: str, ident: Identity) -> list[PhotoPlan]:
    n = _count(config, post)
    rng = _rng(config, int(post), 3)
    n_query = 2 if n >= 4 and rng.random() < 0.2 else 1
    query = set(int(q) + 1 for q in rng.choice(n, n_query, replace=False))
    arts: list[list[ArtifactLook]] = [[] for _ in range(n)]
    if rng.random() < config.mismatch_fraction:  # the true pair differs in an artifact
        look = _random_artifact(rng)
        on_query = rng.random() < 0.5
        for i, a in enumerate(arts):
            if ((i + 1) in query) == on_query:
                a.append(jitter(look, rng))
    else:
        for a in arts:
            if rng.random() < config.test_artifact_rate:
                a.append(_random_artifact(rng))
    return [
        PhotoPlan("query" if i + 1 in query else "gallery", post, i + 1, ident, tuple(a))
        for i, a in enumerate(arts)
    ]


def _plain_post(config: SynthConfig, post: str, split: str, ident: Identity) -> list[PhotoPlan]:
    n = _count(config, post) if split == "gallery" else 1
    rng = _rng(config, int(post), 3)
    out = []
    for i in range(n):
        a = (_random_artifact(rng),) if rng.random() < config.test_artifact_rate else ()
        out.append(PhotoPlan(split, post, i + 1, ident, a))
    return out


def _decoy_post(
    config: SynthConfig,
    post: str,
    split: str,
    queries: dict[str, list[PhotoPlan]],
    used: set[str],
    g: np.random.Generator,
    idents: dict[str, Identity],
) -> list[PhotoPlan]:
    """A different animal built to be confused with a test query: similar coat and/or artifact."""
    mode = ("colour", "artifact", "both")[int(g.integers(3))]
    with_artifact = sorted(p for p, qs in queries.items() if any(q.artifacts for q in qs))
    if mode != "colour" and not with_artifact:
        mode = "colour"
    pool = with_artifact if mode != "colour" else sorted(queries)
    fresh = [p for p in pool if p not in used] or pool
    target = fresh[int(g.integers(len(fresh)))]
    used.add(target)
    rng = _rng(config, int(post), 1)
    if mode == "artifact":
        ident = random_identity(rng, idents[target].species)
    else:
        ident = lookalike(idents[target], rng)
    shared = next(a for q in queries[target] for a in q.artifacts) if mode != "colour" else None
    n = _count(config, post) if split == "gallery" else (2 if rng.random() < 0.2 else 1)
    arts = _rng(config, int(post), 3)
    out = []
    for i in range(n):
        a: tuple[ArtifactLook, ...] = ()
        if shared is not None:
            a = (jitter(shared, arts),)
        elif arts.random() < config.test_artifact_rate:
            a = (_random_artifact(arts),)
        out.append(PhotoPlan(split, post, i + 1, ident, a, decoy_of=target))
    return out


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file; give a folder path for the dataset")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_sample_dataset(out_dir):
        raise ValueError(
            f"{out_dir} is not empty and was not written by the sample generator (no {MARKER}); "
            "choose a new or empty folder, or delete this one first"
        )


def is_sample_dataset(folder: str | Path) -> bool:
    """True when ``folder`` holds a complete dataset written by :func:`generate`."""
    try:
        info = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("generator") == GENERATOR


def generate(
    out_dir: str | Path,
    config: SynthConfig = SynthConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Render the dataset into ``out_dir`` and return its manifest (also ``manifest.csv``).

    ``out_dir`` must be absent, empty, or a previous output of this function (it is replaced).
    Files are written to a hidden sibling folder that is renamed into place at the end, so an
    interrupted run never leaves a dataset that looks complete. ``progress(done, total)`` is
    called after each photo.
    """
    out_dir = Path(out_dir)
    _check_target(out_dir)
    photos = plan(config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        rows = []
        for i, photo in enumerate(photos):
            key = (config.seed, int(photo.post_id), photo.photo)
            out = render(
                photo.identity,
                list(photo.artifacts),
                config.look,
                config.height,
                config.width,
                key,
                counterfactual=config.counterfactual,
            )
            rows.append(_write(tmp, photo, out, config))
            if progress is not None:
                progress(i + 1, len(photos))
        table = pd.DataFrame(rows, columns=list(COLUMNS))
        table.to_csv(tmp / "manifest.csv", index=False, lineterminator="\n")
        info = {"generator": GENERATOR, "format": 1, "photos": len(rows), "config": asdict(config)}
        (tmp / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return table


def _swap(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.replace(out_dir, old / "data")
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old / "data", out_dir)
        raise
    shutil.rmtree(old)


def _save_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(
        path, "JPEG", quality=quality, optimize=False, progressive=False, subsampling=0
    )


def _save_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255, "L").save(path, "PNG", optimize=False)


def _write(root: Path, photo: PhotoPlan, out: Rendered, config: SynthConfig) -> dict:
    stem = f"{photo.post_id}_{photo.photo}"
    image = f"{photo.split}/{stem}.jpg"
    _save_jpeg(root / image, out.image, config.jpeg_quality)
    animal = f"masks/{photo.split}/{stem}_animal.png"
    _save_mask(root / animal, out.animal_mask)
    row = {
        "image": image,
        "post_id": photo.post_id,
        "photo": photo.photo,
        "split": photo.split,
        "camid": photo.photo,
        "species": photo.identity.species,
        "look": config.look,
        "animal_mask": animal,
        "artifacts": ";".join(sorted(out.masks)),
        "counterfactual": "",
        "homogeneous_artifact": photo.homogeneous,
        "polluted": bool(photo.homogeneous),
        "decoy_of": photo.decoy_of,
    }
    for kind in ARTIFACTS:
        row[f"mask_{kind}"] = ""
        if kind in out.masks:
            row[f"mask_{kind}"] = f"masks/{photo.split}/{stem}_{kind}.png"
            _save_mask(root / row[f"mask_{kind}"], out.masks[kind])
    if out.counterfactual is not None:
        row["counterfactual"] = f"counterfactual/{photo.split}/{stem}.jpg"
        _save_jpeg(root / row["counterfactual"], out.counterfactual, config.jpeg_quality)
    return row
