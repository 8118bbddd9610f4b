"""Checks of what a loaded checkpoint holds: its numbers and its weights.

Numbers come in two kinds. Those the workbench acts on -- ``epoch`` (labels, ordering, the
``--epoch`` choice), ``height``/``width`` (every image is resized to them before embedding) and
``num_classes`` -- must be whole numbers in range, or the file is refused: a 60000×60000 input
would cost tens of gigabytes per image. ``rank1`` and ``mAP`` are only shown: a bad one is
dropped with a warning and the file stays usable (NaN is kept: it means "not measured", as
written by ``workbench train`` without a query/gallery split).

Weights must be finite (a diverged run's NaN weights give NaN embeddings and all-NaN or empty
heatmaps), and no tensor may claim more values than the file could hold (a zero-stride view
declared as 10^12 values would cost a terabyte the moment anything reads it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from explain.models.checkpoint_files import CheckpointError
from explain.models.limits import (
    MAX_CLASSES,
    MAX_EPOCH,
    MAX_SIDE_ENV,
    MIN_SIDE,
    LimitError,
    max_side,
    real_number,
    shown,
    whole_number,
)

INFORMATIONAL = ("rank1", "mAP")


class CheckpointValueError(CheckpointError):
    """A number or a tensor of the checkpoint is out of bounds; the message names the file."""


def _scalar(value: object) -> object:
    """A 0-d tensor or a numpy number as its Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def structural_bounds() -> dict[str, tuple[int, int]]:
    """Allowed range of each number the workbench acts on (``max_side()`` read now)."""
    side = max_side()
    return {
        "epoch": (0, MAX_EPOCH),
        "height": (MIN_SIDE, side),
        "width": (MIN_SIDE, side),
        "num_classes": (1, MAX_CLASSES),
    }


def check_numbers(path: object, entries: Mapping) -> tuple[dict, list[str]]:
    """The checkpoint's numeric entries, validated: ``(values, warnings)``.

    ``values`` holds ``epoch``, ``height``, ``width``, ``num_classes`` as ints and ``rank1``,
    ``mAP`` as floats in [0, 1] or NaN, each only when the file has it (an entry that is None
    counts as absent). Raises CheckpointValueError naming the file, the entry, its value and the
    allowed range for a structural number of the wrong type or out of range (and when
    ``WORKBENCH_MAX_SIDE`` is malformed, so that every caller of the checkpoint readers, the
    app's pages included, shows it as a message).
    """
    values: dict = {}
    warnings: list[str] = []
    try:
        bounds = structural_bounds()
    except LimitError as exc:  # a malformed WORKBENCH_MAX_SIDE: callers catch CheckpointError
        raise CheckpointValueError(f"{path}: cannot be checked: {exc}") from None
    for key, (lo, hi) in bounds.items():
        value = _scalar(entries.get(key))
        if value is None:
            continue
        number = whole_number(value)
        if number is None or not lo <= number <= hi:
            hint = ""
            if key in ("height", "width"):
                hint = f" (input sides are capped by {MAX_SIDE_ENV}, default 1024 pixels)"
            raise CheckpointValueError(
                f"{path}: '{key}' is {shown(value)}; expected a whole number in {lo}..{hi}"
                f"{hint}. The file is refused; re-save it with a correct '{key}'"
            )
        values[key] = number
    for key in INFORMATIONAL:
        value = _scalar(entries.get(key))
        if value is None:
            continue
        number = real_number(value)
        if number is not None and (math.isnan(number) or 0.0 <= number <= 1.0):
            values[key] = number
            continue
        warnings.append(
            f"{path}: '{key}' is {shown(value)}, not a fraction in [0, 1] (or NaN); ignored, "
            "the stored metric is shown as '-'"
        )
    arch = entries.get("arch")
    if arch is not None and not (isinstance(arch, str) and 0 < len(arch) <= 100):
        warnings.append(
            f"{path}: 'arch' is {shown(arch)}, not an architecture name; ignored, the "
            "architecture is inferred from the weights"
        )
    return values, warnings


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def check_weights(path: object, state_dict: Mapping[str, torch.Tensor], file_size: int) -> None:
    """Refuse (CheckpointValueError naming the file and the first bad tensor) weights that
    claim more values than ``file_size`` bytes can hold, or hold NaN / infinite values."""
    slack = 2 * file_size + (1 << 20)  # a tensor saved twice (tied weights) or transposed
    seen: set[tuple] = set()
    total = 0
    for key, t in state_dict.items():
        nbytes = _tensor_bytes(t)
        view = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride())
        if view not in seen:
            seen.add(view)
            total += nbytes
        if nbytes > file_size + (1 << 20) or total > slack:
            raise CheckpointValueError(
                f"{path}: corrupt or crafted checkpoint: tensor {key!r} declares shape "
                f"{tuple(t.shape)} ({t.numel():,} values) but the whole file is "
                f"{file_size:,} bytes; refused"
            )
    for key, t in state_dict.items():
        if not (t.is_floating_point() or t.is_complex()) or t.numel() == 0:
            continue
        if bool(torch.isfinite(t.sum())):  # any NaN/Inf makes the sum NaN/Inf; no allocation
            continue
        finite = torch.isfinite(t)  # the sum may also overflow: count exactly
        if not bool(finite.all()):
            bad = int((~finite).sum())
            kinds = []
            if bool(torch.isnan(t).any()):
                kinds.append("NaN")
            if bool(torch.isinf(t).any()):
                kinds.append("infinite")
            raise CheckpointValueError(
                f"{path}: weights are broken: tensor {key!r} holds {bad:,} {' and '.join(kinds)} "
                f"value(s) of {t.numel():,} (training diverged?); it would give NaN embeddings "
                "and empty heatmaps. Use an earlier checkpoint of the series"
            )
