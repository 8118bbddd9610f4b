"""Bounds on the numbers the workbench reads from files and options it does not control.

Checkpoints, ``recipe.json`` files and command-line options are untrusted input: a checkpoint
that says its input is 60000×60000 pixels would make every embedding allocate tens of gigabytes.
Every such number is checked against these bounds before anything is allocated.

The input size cap is one setting: :data:`MAX_SIDE_DEFAULT` (1024 pixels a side), overridden by
the environment variable ``WORKBENCH_MAX_SIDE`` (a whole number in
``MIN_SIDE..MAX_SIDE_CEILING``).
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real

MAX_SIDE_ENV = "WORKBENCH_MAX_SIDE"
MAX_SIDE_DEFAULT = 1024  # pixels, height or width of a model's input
MAX_SIDE_CEILING = 16384  # the largest value WORKBENCH_MAX_SIDE may set
MIN_SIDE = 16  # OSNet and ResNet reduce the input 16 times before their last block
MAX_EPOCH = 100_000  # an epoch number stored in or named by a checkpoint
MAX_TRAIN_EPOCHS = 1000  # epochs one training run may ask for
MAX_CLASSES = 10_000_000  # identities a classifier may have
MAX_BATCH = 1024  # images in one training batch
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_THREADS = 256


class LimitError(ValueError):
    """A setting that bounds untrusted input is itself malformed."""


def max_side() -> int:
    """The largest input height or width accepted, in pixels (``WORKBENCH_MAX_SIDE`` or 1024)."""
    raw = os.environ.get(MAX_SIDE_ENV, "").strip()
    if not raw:
        return MAX_SIDE_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        raise LimitError(
            f"{MAX_SIDE_ENV}={raw!r} is not a whole number; set it to the largest input side "
            f"in pixels ({MIN_SIDE}..{MAX_SIDE_CEILING}) or unset it for {MAX_SIDE_DEFAULT}"
        ) from None
    if not MIN_SIDE <= value <= MAX_SIDE_CEILING:
        raise LimitError(
            f"{MAX_SIDE_ENV}={value} lies outside {MIN_SIDE}..{MAX_SIDE_CEILING}; unset it for "
            f"{MAX_SIDE_DEFAULT}"
        )
    return value


def shown(value: object, limit: int = 60) -> str:
    """``value`` as a message shows it: its repr (cut to ``limit`` characters) and, for
    anything but an int or float, its type."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{text} ({type(value).__name__})"
    return text


def whole_number(value: object) -> int | None:
    """``value`` as an int when it is a whole number (int, numpy integer, or a float with no
    fractional part); None for anything else, booleans included."""
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype == bool):
        return None
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        return int(value)
    return None


def real_number(value: object) -> float | None:
    """``value`` as a float when it is a real number (NaN and infinities included); None for
    anything else, booleans included."""
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype == bool):
        return None
    if isinstance(value, Real):
        try:
            return float(value)
        except OverflowError:  # an int too large for a float
            return math.inf if value > 0 else -math.inf
    return None
