"""The ranked recommendation: every candidate with its estimated mAP gain and interval.

A candidate is measured (an :class:`~explain.diagnose.stats.Estimate` of the mAP gain) or not
(then it says what to run). Measured candidates come first, highest gain first (ties: higher
lower bound first, then name); the unmeasured keep their given order after them. A gain whose
interval includes 0 is flagged "not distinguishable from 0".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from explain.diagnose.stats import Estimate


@dataclass(frozen=True)
class Candidate:
    """``name`` (e.g. "more data"), ``action`` (what to do), ``gain`` (mAP, None when not
    measured), ``evidence`` (how the number was obtained), ``how`` (the command that would
    measure it, for an unmeasured candidate)."""

    name: str
    action: str
    gain: Estimate | None = None
    evidence: str = ""
    how: str = ""

    @property
    def measured(self) -> bool:
        return self.gain is not None and not math.isnan(self.gain.value)

    def line(self) -> str:
        """One evidence line: ``action — +0.040 mAP [0.010, 0.070]; evidence``."""
        if not self.measured:
            return f"{self.name}: not measured — run {self.how}" if self.how else \
                f"{self.name}: not measured"  # fmt: skip
        g = self.gain
        text = f"{self.name}: {self.action} — {g.text(signed=True)} mAP"
        if math.isnan(g.low):
            text += " (no interval)"
        elif g.low <= 0 <= g.high:
            text += " (not distinguishable from 0)"
        return f"{text}; {self.evidence}" if self.evidence else text

    def to_dict(self) -> dict:
        return {"name": self.name, "action": self.action, "measured": self.measured,
                "gain": self.gain.to_dict() if self.gain is not None else None,
                "evidence": self.evidence, "how": self.how, "line": self.line()}  # fmt: skip


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Measured candidates by gain (highest first), then the unmeasured in their given order."""
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"candidate names must be unique, got {names}")
    measured = [c for c in candidates if c.measured]
    measured.sort(key=lambda c: (-c.gain.value,
                                 -(c.gain.low if not math.isnan(c.gain.low) else -math.inf),
                                 c.name))  # fmt: skip
    return measured + [c for c in candidates if not c.measured]


def summary(ranked: Sequence[Candidate]) -> list[str]:
    """Numbered evidence lines: ``1. first: ...``."""
    out = []
    for i, c in enumerate(ranked, start=1):
        out.append(f"{i}. {'first: ' if i == 1 and c.measured else ''}{c.line()}")
    return out
