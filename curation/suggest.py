"""Suggested bucket per query, from its retrieval outcome and (optionally) attribution numbers.

Buckets:

``no-match-in-gallery``  no photo of the query's post is in the gallery: it can never be found;
                         the team should check whether a match existed and was lost
``missed``               the true match is in the gallery but not within the top ``k``
``spurious``             found within the top ``k``, but most positive attribution falls off the
                         animal (``animal_mass < animal_min``) or on tagged artifact regions
                         (``artifact_mass >= artifact_max``)
``worked``               found within the top ``k`` for (as far as the numbers tell) the animal

Inputs are plain numbers so this module does not depend on the model side: ``rank`` is the
1-based position of the first true match in the ranked gallery (1 = top) or missing when none
was found in the ranked list; ``animal_mass``/``artifact_mass`` are shares in [0, 1] of the
positive attribution on the animal mask / on the artifact regions. Each suggestion carries a
readable reason and the numbers behind it; annotators confirm or override it in the tag store.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from curation.vocabulary import MISSED, NO_MATCH, SPURIOUS, SUGGESTIONS, WORKED

SUGGESTED_BUCKETS = SUGGESTIONS
PENDING, CONFIRMED, OVERRIDDEN = "pending", "confirmed", "overridden"
REVIEW_STATUSES = (PENDING, CONFIRMED, OVERRIDDEN)  # :func:`review`
_COLUMNS = ("image", "post_id", "rank", "in_gallery")


@dataclass(frozen=True)
class Suggestion:
    """A suggested bucket, the sentence that explains it, and the numbers it came from."""

    bucket: str
    reason: str
    rank: int | None
    in_gallery: bool
    k: int
    animal_mass: float | None = None
    artifact_mass: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def suggest_one(
    rank: int | None,
    in_gallery: bool,
    *,
    k: int = 5,
    animal_mass: float | None = None,
    artifact_mass: float | None = None,
    animal_min: float = 0.5,
    artifact_max: float = 0.3,
) -> Suggestion:
    """Suggest the bucket of one query (see the module docstring for the rules).

    ``rank``: 1-based rank of the first true match, None (or NaN) when none was found.
    ``k``: how many results the team looks at. ``animal_min``/``artifact_max``: thresholds on
    the attribution shares, in [0, 1].
    """
    rank = _rank(rank)
    in_gallery = _flag(in_gallery)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive whole number of results, got {k!r}")
    animal = _share("animal_mass", animal_mass)
    artifact = _share("artifact_mass", artifact_mass)
    for name, value in (("animal_min", animal_min), ("artifact_max", artifact_max)):
        if _share(name, value) is None:
            raise ValueError(f"{name} must be a number in [0, 1]")
    numbers = {"rank": rank, "in_gallery": in_gallery, "k": k}
    numbers.update(animal_mass=animal, artifact_mass=artifact)
    if not in_gallery:
        if rank is not None:
            raise ValueError(
                f"rank {rank} given for a query whose post is not in the gallery; "
                "a true match can only be ranked when the gallery holds one"
            )
        return Suggestion(
            NO_MATCH,
            "no photo of this post is in the gallery, so it can never be found; "
            "check whether a match existed and was lost",
            **numbers,
        )
    if rank is None or rank > k:
        where = (
            "was not found in the ranked list" if rank is None else f"first appears at rank {rank}"
        )
        return Suggestion(
            MISSED, f"the true match is in the gallery but {where} (top {k} shown)", **numbers
        )
    found = f"found at rank {rank} (top {k})"
    problems = []
    if animal is not None and animal < animal_min:
        problems.append(
            f"only {animal:.0%} of the positive attribution lies on the animal "
            f"(below {animal_min:.0%})"
        )
    if artifact is not None and artifact >= artifact_max:
        problems.append(
            f"{artifact:.0%} of the positive attribution lies on artifact regions "
            f"(at least {artifact_max:.0%})"
        )
    if problems:
        return Suggestion(SPURIOUS, f"{found}, but {' and '.join(problems)}", **numbers)
    if animal is None and artifact is None:
        return Suggestion(
            WORKED,
            f"{found}; no attribution numbers, so a spurious match cannot be ruled out",
            **numbers,
        )
    parts = []
    if animal is not None:
        parts.append(f"{animal:.0%} of the attribution on the animal")
    if artifact is not None:
        parts.append(f"{artifact:.0%} on artifact regions")
    return Suggestion(WORKED, f"{found} with {', '.join(parts)}", **numbers)


def suggest(
    outcomes: pd.DataFrame,
    *,
    k: int = 5,
    animal_min: float = 0.5,
    artifact_max: float = 0.3,
) -> pd.DataFrame:
    """Suggest a bucket for every query row.

    ``outcomes``: columns ``image, post_id, rank, in_gallery`` and optionally ``animal_mass``,
    ``artifact_mass`` (missing values allowed). Returns one row per query, sorted by image, with
    ``image, post_id, bucket, reason, rank, in_gallery, k, animal_mass, artifact_mass``.
    """
    missing = [c for c in _COLUMNS if c not in outcomes.columns]
    if missing:
        raise ValueError(
            f"retrieval outcomes lack column(s) {', '.join(missing)}; "
            f"give {', '.join(_COLUMNS)} (+ optional animal_mass, artifact_mass)"
        )
    dup = outcomes["image"][outcomes["image"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"images listed more than once: {', '.join(map(str, dup[:5]))}")
    rows = []
    for rec in outcomes.to_dict("records"):
        try:
            s = suggest_one(
                rec["rank"], rec["in_gallery"], k=k,
                animal_mass=rec.get("animal_mass"), artifact_mass=rec.get("artifact_mass"),
                animal_min=animal_min, artifact_max=artifact_max,
            )  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"{rec['image']}: {exc}") from exc
        rows.append({"image": rec["image"], "post_id": rec["post_id"], **s.as_dict()})
    cols = ["image", "post_id", "bucket", "reason", "rank", "in_gallery", "k",
            "animal_mass", "artifact_mass"]  # fmt: skip
    out = pd.DataFrame(rows, columns=cols).sort_values("image", kind="mergesort")
    out["rank"] = out["rank"].astype("Int64")
    out["animal_mass"] = out["animal_mass"].astype("float64")
    out["artifact_mass"] = out["artifact_mass"].astype("float64")
    return out.reset_index(drop=True)


def review(suggestions: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Compare suggestions with annotators' decisions (:meth:`TagStore.current`).

    Adds ``decided`` (the stored bucket or missing) and ``status``: ``pending`` (no decision),
    ``confirmed`` (same bucket), ``overridden`` (another bucket). A ``no-match-in-gallery``
    suggestion is confirmed by any decision: the annotator checked it.
    """
    decided = current.set_index("image")["bucket"] if not current.empty else pd.Series()
    out = suggestions.copy()
    out["decided"] = out["image"].map(decided)
    status = []
    for sug, dec in zip(out["bucket"], out["decided"], strict=True):
        if dec is None or (isinstance(dec, float) and math.isnan(dec)):
            status.append(PENDING)
        elif dec == sug or sug == NO_MATCH:
            status.append(CONFIRMED)
        else:
            status.append(OVERRIDDEN)
    out["status"] = status
    return out


def _rank(rank: Any) -> int | None:
    if rank is None or rank is pd.NA or (isinstance(rank, float) and math.isnan(rank)):
        return None
    if isinstance(rank, bool):
        raise ValueError(f"rank must be a whole number >= 1 or missing, got {rank!r}")
    try:
        value = int(rank)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rank must be a whole number >= 1 or missing, got {rank!r}") from exc
    if value != rank or value < 1:
        raise ValueError(f"rank must be a whole number >= 1 (1 = top result), got {rank!r}")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
    elif value is not None and value is not pd.NA and value in (True, False):
        return bool(value)
    raise ValueError(f"in_gallery must be true or false, got {value!r}")


def _share(name: str, value: Any) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a share in [0, 1], got {value!r}") from exc
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a share in [0, 1], got {value!r}")
    return v
