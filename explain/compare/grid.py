"""The heatmap grid of a comparison: rows = queries, columns = epochs × series, one PNG.

Each tile is the query photo at the model's input size with its self-similarity heatmap laid
over it by the app's renderer (:func:`explain.heatmaps.render.overlay`, half image, half jet
colour map), with the colour bar under the grid. Maps come from (and go to) the heatmap cache,
under the keys ``workbench explain precompute`` writes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from explain.heatmaps.cache import HeatmapCache
from explain.heatmaps.render import colour_bar, overlay

HEADER = 16  # pixels above the tiles for the column labels
NAME_WIDTH = 120  # pixels left of the tiles for the query names
BAR_WIDTH = 160  # pixels of the colour bar under the grid


def column_labels(series: Mapping[str, Sequence[object]]) -> list[str]:
    """``"baseline e3"``, ``"baseline e12"``, ..., ``"curated e60"`` (series order, then epoch)."""
    return [f"{name} e{m.epoch}" for name, models in series.items() for m in models]


def heatmap_grid(
    dataset,
    series: Mapping[str, Sequence[object]],
    queries: Sequence[str],
    method: str,
    out_dir: Path,
    *,
    cache: HeatmapCache | None = None,
    progress: Callable[[int, int], None] | None = None,
    **params,
) -> tuple[Path, list[str]]:
    """Write the grid PNG of ``queries`` (manifest entries) for every checkpoint of every
    series (``{"baseline": [LoadedModel...], "curated": [...]}``); returns its path and the
    column labels. The file name carries a hash of the checkpoints, images and method."""
    from curation.images import file_sha1, load_rgb
    from explain.heatmaps.batched import cached_self_maps
    from explain.heatmaps.series import members
    from explain.models.preprocess import to_input

    if not queries:
        raise ValueError("no queries for the grid; pass at least one query image")
    models = [m for ms in series.values() for m in ms]
    size = tuple(models[0].input_size)
    labels = column_labels(series)
    pics, shas = [], []
    for image in queries:
        path = dataset.path(image)
        pics.append(load_rgb(path))
        shas.append(file_sha1(path))
    tiles: list[list[np.ndarray]] = [[] for _ in queries]
    done, total = 0, len(models)
    for ms in series.values():  # one checkpoint: every query in one batch (gradient CAMs)
        xs = [to_input(pic, *ms[0].input_size) for pic in pics]
        for m in members(ms):
            maps = cached_self_maps(
                cache, m.model, xs, method,
                checkpoint_sha1=m.sha1, image_sha1s=shas, **params,
            )  # fmt: skip
            for row, (pic, hm) in enumerate(zip(pics, maps, strict=True)):
                h, w = hm.map.shape
                tile = overlay(pic.resize((w, h)), hm.map)
                if tile.shape[:2] != size:
                    tile = np.asarray(Image.fromarray(tile).resize((size[1], size[0])))
                tiles[row].append(tile)
            done += 1
            if progress is not None:
                progress(done, total)
    rows = list(zip(queries, shas, tiles, strict=True))
    key = hashlib.sha1(
        "|".join(
            [
                method,
                repr(sorted(params.items())),
                *(m.sha1 or "" for m in models),
                *(sha for _, sha, _ in rows),
            ]
        ).encode()
    ).hexdigest()[:12]
    out = Path(out_dir) / f"grid_{method.replace('+', 'p')}_{key}.png"
    _save(_compose(rows, labels, size), out)
    return out, labels


def _compose(rows, labels: list[str], size: tuple[int, int]) -> Image.Image:
    h, w = size
    bar = colour_bar(min(BAR_WIDTH, w * len(labels)))
    width, height = NAME_WIDTH + w * len(labels), HEADER + h * len(rows)
    canvas = Image.new("RGB", (width, height + 4 + bar.shape[0]), "white")
    canvas.paste(Image.fromarray(bar), (NAME_WIDTH, height + 4))
    draw = ImageDraw.Draw(canvas)
    for j, label in enumerate(labels):
        draw.text((NAME_WIDTH + j * w + 3, 2), label, fill=(0, 0, 0))
    for i, (image, _, tiles) in enumerate(rows):
        top = HEADER + i * h
        for part, text in enumerate(_wrap(image, 18)):
            draw.text((3, top + 3 + 12 * part), text, fill=(0, 0, 0))
        for j, tile in enumerate(tiles):
            canvas.paste(
                Image.fromarray(np.asarray(tile, dtype=np.uint8)), (NAME_WIDTH + j * w, top)
            )
    return canvas


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
    os.close(fd)
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
