"""Validation findings: what is wrong with a dataset, said so that a user can fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class Finding:
    """One problem found in a dataset.

    ``code`` is stable (tests and the app filter on it); ``message`` names the file and the fix;
    ``images`` lists the manifest rows concerned (by image); ``rows`` their positions in the
    manifest (0-based, header not counted) when the finding is about particular rows.
    """

    level: Literal["error", "warning"]
    code: str
    message: str
    images: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()

    def as_warning(self) -> Finding:
        return replace(self, level="warning", message=f"{self.message} (row dropped)")


def errors_of(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


class DatasetError(ValueError):
    """The dataset cannot be used as it is; ``findings`` lists every problem found."""

    def __init__(self, message: str, findings: Iterable[Finding] = ()):
        super().__init__(message)
        self.findings = list(findings)

    @classmethod
    def from_findings(
        cls, source: str, findings: Iterable[Finding], limit: int = 20
    ) -> DatasetError:
        findings = list(findings)
        errors = errors_of(findings)
        lines = [f"  - {f.message}" for f in errors[:limit]]
        if len(errors) > limit:
            lines.append(f"  ... and {len(errors) - limit} more")
        head = f"{source}: {len(errors)} problem(s) must be fixed before it can be used"
        hint = (
            "(to skip the bad rows instead: --drop-bad on the command line, "
            "errors='drop' in Python)"
        )
        return cls("\n".join([f"{head} {hint}:", *lines]), findings)
