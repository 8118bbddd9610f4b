"""Checkpoint discovery: find a series' files and order them by epoch (no loading here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_PATTERNS = ("model.pth.tar-*", "*.pth.tar", "*.pth", "*.pt")
_EPOCH_RE = re.compile(r"(?:tar-|epoch[_-]?|ep[_-]?|[_-])(\d+)(?:\.pth|\.pt|\.tar)*$", re.I)


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint file of a series; ``epoch`` comes from the file name (None when absent)."""

    path: Path
    epoch: int | None

    @property
    def label(self) -> str:
        return f"epoch {self.epoch}" if self.epoch is not None else self.path.name


def epoch_from_name(name: str) -> int | None:
    """``model.pth.tar-60`` -> 60, ``epoch_12.pth`` -> 12, ``best.pt`` -> None."""
    m = _EPOCH_RE.search(name)
    return int(m.group(1)) if m else None


def discover(folder: str | Path) -> list[CheckpointFile]:
    """Checkpoint files in ``folder`` (or ``folder/model`` / ``folder/*/model`` as torchreid's
    ``log/<run>/model/`` layout), ordered by epoch, then name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {folder} does not exist; point to the folder holding "
            "model.pth.tar-N files (or torchreid's log/<run>/)"
        )
    candidates = [folder, folder / "model", *sorted(folder.glob("*/model"))]
    for cand in candidates:
        files: dict[Path, None] = {}
        for pattern in CHECKPOINT_PATTERNS:
            for p in sorted(cand.glob(pattern)):
                if p.is_file() and not p.name.startswith("."):
                    files[p] = None
        if files:
            found = [CheckpointFile(p, epoch_from_name(p.name)) for p in files]
            return sorted(found, key=lambda c: (c.epoch is None, c.epoch or 0, c.path.name))
    return []
