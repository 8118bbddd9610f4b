"""Embeddings: a model's L2-normalised feature vector for every image, cached on disk.

Preprocessing is torchreid's test transform (resize to H×W, ImageNet normalisation); with
``flip=True`` the features of the image and of its mirror image are averaged before the
normalisation. The disk cache (:class:`explain.storage.cache.DiskCache`, namespace ``embeddings``)
is keyed by the checkpoint's content hash, the content hash of every image (in order) and the
preprocessing, so a renamed checkpoint or image still hits and a changed one never does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from curation.dataset import Dataset
from explain.models.checkpoints import LoadedModel
from explain.models.device import set_threads
from explain.models.engine import engine_for, features
from explain.models.preprocess import test_transform
from explain.retrieval.inputs import model_input
from explain.storage.cache import DiskCache, make_key
from explain.storage.hashing import content_hashes

Progress = Callable[[int, int], None]  # (done, total)
PREPROCESSING_VERSION = 1  # bump when the transform changes: old cache entries stop matching


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def extract(
    model: torch.nn.Module,
    images: Sequence[str | Path],
    *,
    height: int = 256,
    width: int = 128,
    flip: bool = False,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
    engine: str = "auto",
) -> np.ndarray:
    """Features of ``images`` (file paths): ``(N, D)`` float32, each row of unit L2 norm.

    The model runs in eval mode (its previous mode is restored afterwards); inputs go to
    ``device`` (default: where the model's parameters are). ``threads`` sets torch's CPU threads
    (default: leave them as they are). ``progress(done, total)`` is called after every batch.
    ``engine``: how the forwards run (:mod:`explain.models.engine`: ``auto`` takes ONNX Runtime
    on the CPU when it is installed; ``eager`` is the model itself).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if threads is not None:
        set_threads(threads)
    device = torch.device(device) if device is not None else _model_device(model)
    tf = test_transform(height, width)
    total = len(images)
    chunks: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        run = _forward if engine == "eager" else _engine_forward(model, engine)
        for start in range(0, total, batch_size):
            batch = [model_input(p, tf) for p in images[start : start + batch_size]]
            x = torch.stack(batch).to(device)
            feats = run(model, x)
            if flip:
                feats = feats + run(model, torch.flip(x, dims=[3]))
            chunks.append(torch.nn.functional.normalize(feats.float(), dim=1).cpu())
            if progress:
                progress(min(start + batch_size, total), total)
    finally:
        model.train(was_training)
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def _engine_forward(model: torch.nn.Module, kind: str):
    engine = engine_for(model, kind)
    return lambda _model, x: engine(x)


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return features(model(x))


@dataclass
class Embeddings:
    """Features for every row of a dataset's table, in table order.

    ``features``: ``(N, D)`` float32, unit L2 norm; ``images``: the table's ``image`` entries;
    ``checkpoint``: the checkpoint's SHA-1; ``key``: the cache key; ``cached``: read from disk.
    """

    features: np.ndarray
    images: list[str]
    checkpoint: str
    key: str
    cached: bool = False

    def rows(self, images: Sequence[str]) -> np.ndarray:
        """Features of the given ``images`` (manifest entries): ``(len(images), D)``."""
        index = {img: i for i, img in enumerate(self.images)}
        missing = [img for img in images if img not in index]
        if missing:
            raise KeyError(f"no embedding for {missing[:3]} ({len(missing)} image(s))")
        return self.features[[index[img] for img in images]]


def embedding_key(
    checkpoint_sha1: str, image_hashes: Sequence[str], height: int, width: int, flip: bool
) -> str:
    """The cache key: checkpoint hash + image hashes (in order) + preprocessing."""
    return make_key(
        "embeddings",
        checkpoint=checkpoint_sha1,
        images=list(image_hashes),
        height=height,
        width=width,
        flip=flip,
        preprocessing=PREPROCESSING_VERSION,
    )


def embed_dataset(
    loaded: LoadedModel,
    dataset: Dataset,
    *,
    cache_dir: Path | None,
    flip: bool = False,
    progress: Progress | None = None,
    batch_size: int = 64,
    threads: int | None = None,
    splits: Sequence[str] | None = None,
    engine: str = "auto",
) -> Embeddings:
    """Embeddings of every image in ``dataset.table`` (in table order; only the rows of
    ``splits`` when given, e.g. ``("query", "gallery")``) with ``loaded``'s model at its training
    input size; read from / written to ``cache_dir`` when given (None: no cache).

    ``threads``: torch CPU threads (default :func:`explain.models.device.default_threads`);
    ``engine``: see :func:`extract` (the features do not depend on it beyond 1e-5, so it is not
    in the key).
    """
    table = dataset.table
    if splits is not None:
        table = table[table["split"].isin(list(splits))]
    images = table["image"].tolist()
    paths = [dataset.path(img) for img in images]
    height, width = loaded.input_size
    key = embedding_key(loaded.sha1, content_hashes(paths), height, width, flip)
    cache = DiskCache(cache_dir, "embeddings") if cache_dir is not None else None
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            feats = hit["features"]
            if feats.shape[0] != len(images):
                raise ValueError(
                    f"cache entry {cache.path(key)} holds {feats.shape[0]} rows for "
                    f"{len(images)} images; delete it and it will be recomputed"
                )
            if progress:
                progress(len(images), len(images))
            return Embeddings(feats.astype(np.float32), images, loaded.sha1, key, cached=True)
    set_threads(threads)
    feats = extract(
        loaded.model,
        paths,
        height=height,
        width=width,
        flip=flip,
        batch_size=batch_size,
        progress=progress,
        engine=engine,
    )
    if cache is not None:
        cache.put(key, {"features": feats})
    return Embeddings(feats, images, loaded.sha1, key, cached=False)
