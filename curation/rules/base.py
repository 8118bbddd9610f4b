"""What every curation rule returns: a removal table, one row per (image, rule, cause).

Columns of a removal table:

``image``    manifest path of the removed photo
``post_id``  its post
``split``    its split
``rule``     the rule's name (as written in ``--rules``)
``cause``    a short stable label within the rule (an artifact name, ``intra-post``, ``blurry``
             ...) used to count removals per reason
``reason``   one readable sentence with the numbers behind the decision

Rules are pure: tables in, a removal table out; they never read files or the store themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from curation.vocabulary import SPLITS

REMOVAL_COLUMNS = ("image", "post_id", "split", "rule", "cause", "reason")


def removal_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """A sorted removal table from dict rows (split order, post, image, rule, cause)."""
    df = pd.DataFrame(list(rows), columns=list(REMOVAL_COLUMNS))
    for col in REMOVAL_COLUMNS:
        df[col] = df[col].astype(str)
    df = df.drop_duplicates(["image", "rule", "cause"], keep="first")
    order = df["split"].map({s: i for i, s in enumerate(SPLITS)})
    df = df.assign(_o=order).sort_values(
        ["_o", "post_id", "image", "rule", "cause"], kind="mergesort"
    )
    return df.drop(columns="_o").reset_index(drop=True)


def check_table(table: pd.DataFrame, rule: str) -> None:
    missing = [c for c in ("image", "post_id", "photo", "split") if c not in table.columns]
    if missing:
        raise ValueError(
            f"{rule}: the manifest table lacks column(s) {', '.join(missing)}; pass Dataset.table"
        )


def check_splits(splits: Sequence[str], rule: str) -> tuple[str, ...]:
    if isinstance(splits, str):
        splits = (splits,)
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise ValueError(f"{rule}: splits must be drawn from {', '.join(SPLITS)}, got {splits!r}")
    return tuple(splits)


def check_known(ids: Iterable[str], known: set[str], what: str, rule: str, unknown: str) -> None:
    """Raise when ``ids`` name images/posts absent from the manifest (unless unknown='ignore')."""
    if unknown not in ("raise", "ignore"):
        raise ValueError(f"{rule}: unknown must be 'raise' or 'ignore', not {unknown!r}")
    if unknown == "ignore":
        return
    stray = sorted(set(ids) - known)
    if stray:
        head = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise ValueError(
            f"{rule}: {len(stray)} {what}(s) are not in the dataset: {head}; were the tags made "
            "on another dataset? pass the matching dataset (or unknown='ignore')"
        )


def tag_set(value) -> frozenset[str]:
    """Artifacts or flags as a set, from a ``;``-joined string, a list, or a missing value."""
    if value is None or (isinstance(value, float) and value != value):
        return frozenset()
    if isinstance(value, str):
        return frozenset(v.strip() for v in value.split(";") if v.strip())
    return frozenset(str(v).strip() for v in value if str(v).strip())


def post_rows(table: pd.DataFrame, post_id: str, splits: Sequence[str]) -> pd.DataFrame:
    """Photos of one post within ``splits``."""
    return table[(table["post_id"] == post_id) & table["split"].isin(splits)]


def summarise(removals: pd.DataFrame) -> pd.DataFrame:
    """Counts per (rule, cause): ``images`` and ``posts`` removed; sorted by rule and cause."""
    if removals.empty:
        return pd.DataFrame(columns=["rule", "cause", "images", "posts"])
    grouped = removals.groupby(["rule", "cause"], sort=True)
    out = pd.DataFrame(
        {"images": grouped["image"].nunique(), "posts": grouped["post_id"].nunique()}
    )
    return out.reset_index()
