"""A checkpoint series: every checkpoint of a folder loaded, one per epoch, in epoch order.

A series has one checkpoint per epoch: files that are byte-for-byte copies (torchreid's
``model-best.pth.tar`` beside ``model.pth.tar-N``) are listed once, with a warning; two different
files claiming the same epoch are refused, since every view of a series (labels, ``--epoch``,
the per-epoch comparison of two series) would show one of them in place of the other.
"""

from __future__ import annotations

from pathlib import Path

import torch

from explain.models.checkpoint_files import CheckpointError
from explain.models.checkpoints import LoadedModel, discover, epoch_from_name, load_model


class Series(list):
    """A loaded checkpoint series: the :class:`LoadedModel` s in epoch order (a list), plus
    ``warnings``, the messages to show wherever the series is listed (each names its file)."""

    def __init__(self, models: list[LoadedModel] = (), warnings: list[str] = ()):
        super().__init__(models)
        self.warnings = list(warnings)


def epoch_conflicts(
    items: list[tuple[Path, int | None, str]],
) -> tuple[dict[Path, Path], list[str], list[str]]:
    """Files of one series that claim the same epoch, from ``(path, epoch, sha1)`` triples.

    Returns ``(copies, warnings, errors)``: ``copies`` maps each byte-for-byte copy to the file
    kept in its place (the one whose name gives the epoch, else the first by name), with one
    warning each; ``errors`` has one message per epoch claimed by different files."""
    by_epoch: dict[int, list[tuple[Path, str]]] = {}
    for path, epoch, sha1 in items:
        if epoch is not None:
            by_epoch.setdefault(epoch, []).append((Path(path), sha1))
    copies: dict[Path, Path] = {}
    warnings: list[str] = []
    errors: list[str] = []
    for epoch, group in sorted(by_epoch.items()):
        if len(group) < 2:
            continue
        group.sort(key=lambda g: (epoch_from_name(g[0].name) != epoch, g[0].name))
        if len({sha for _, sha in group}) > 1:
            names = ", ".join(p.name for p, _ in group)
            errors.append(
                f"{group[0][0].parent}: {len(group)} different files claim epoch {epoch} "
                f"({names}); a series has one checkpoint per epoch: move all but one out of "
                "the folder, or re-save them with their true epochs"
            )
            continue
        kept = group[0][0]
        for path, _ in group[1:]:
            copies[path] = kept
            warnings.append(
                f"{path}: a copy of {kept.name} (same content, epoch {epoch}); listed once, "
                f"as {kept.name}"
            )
    return copies, warnings, errors


def load_series(
    folder: str | Path, arch: str | None = None, device: str | torch.device | None = None
) -> Series:
    """Every checkpoint :func:`discover` finds in ``folder``, loaded, ordered by epoch (files
    without an epoch last, by name), as a :class:`Series` with its ``warnings``. Copies of one
    file are loaded once. Raises CheckpointError when there is none, when a file cannot be used
    or when two different files claim one epoch (:func:`epoch_conflicts`)."""
    files = discover(folder, unusable=True)
    if not files:
        raise CheckpointError(
            f"{folder}: no checkpoint files (model.pth.tar-N, *.pth, *.pt) here, in "
            f"{Path(folder) / 'model'} or in {Path(folder) / '*' / 'model'}"
        )
    loaded = [load_model(f.path, arch=arch, device=device) for f in files]
    copies, warnings, errors = epoch_conflicts([(m.path, m.epoch, m.sha1) for m in loaded])
    if errors:
        raise CheckpointError("; ".join(errors))
    kept = [m for m in loaded if m.path not in copies]
    kept.sort(key=lambda m: (m.epoch is None, m.epoch or 0, m.path.name))
    return Series(kept, [w for m in kept for w in m.warnings] + warnings)
