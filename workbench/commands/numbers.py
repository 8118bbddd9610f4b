"""Click types of the numeric options: out-of-range values are usage errors, not crashes or
hours of work. The bounds come from :mod:`explain.models.limits` where files share them."""

from __future__ import annotations

import math

import click

from explain.models.limits import MAX_EPOCH, MAX_SIDE_CEILING, MAX_THREADS


class FiniteFloat(click.FloatRange):
    """A float in ``[min, max]`` (``min_open``: ``(min, max]``); NaN and infinities refused
    (``click.FloatRange`` lets NaN through: every comparison with it is false)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


THREADS = click.IntRange(1, MAX_THREADS)
EPOCH = click.IntRange(0, MAX_EPOCH)  # a checkpoint's epoch, as the series lists it
TOP_K = click.IntRange(1, 1000)  # gallery results kept per query
COUNT = click.IntRange(1, 100_000)  # images, queries or rows a command works on
PIXELS = click.IntRange(1, MAX_SIDE_CEILING)  # occlusion window and stride
