"""The Posts page's tables (pure pandas, no Streamlit: tested directly).

- :func:`read_scores` reads a ``posts.csv`` written by ``workbench shortcuts`` and says what is
  wrong with one that is not;
- :func:`post_table` joins a split's posts with their scores, the annotators' tags and flags,
  the detections and the Triage decisions of the post's queries;
- :func:`filter_posts` keeps the rows the page's filters allow;
- :func:`tag_all` / :func:`detected_of` build what one key press writes for a whole post.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

SCORE_COLUMNS = ("post_id", "split", "score", "data_score", "reliance", "cause", "evidence")
MACHINE = "detector:"  # annotators whose name starts with this are detectors, not people
MAX_SCORES_BYTES = 200 * 1024 * 1024  # posts.csv rows with evidence: a few KB a post


def cause_kind(cause: object) -> str:
    """The artifact a ``cause`` of ``workbench shortcuts`` names (``"hands relied on"`` →
    ``"hands"``), or "" for ``model regions`` / ``none`` / no cause."""
    words = str(cause).split(" ") if isinstance(cause, str) else []
    if not words or cause in ("", "none") or cause.startswith("model regions"):
        return ""
    return words[0]


class ScoresError(ValueError):
    """A posts.csv that cannot be used (the message names the file and the fix)."""


def read_scores(path: str | Path) -> pd.DataFrame:
    """The per-post scores of ``path`` (a ``workbench shortcuts --out`` table).

    Returns one row per ``(post_id, split)`` with the :data:`SCORE_COLUMNS` (``post_id`` as
    text, the three scores as floats, NaN where the file left them empty). Raises
    :class:`ScoresError` for a missing, oversized or unreadable file, a missing column or a
    repeated post.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_SCORES_BYTES:
        raise ScoresError(
            f"{path} is {path.stat().st_size / 2**20:.0f} MB; a shortcut-score table may be at "
            f"most {MAX_SCORES_BYTES // 2**20} MB (score fewer posts, or leave out --photos rows)"
        )
    try:
        table = pd.read_csv(path, dtype={"post_id": str, "split": str}, keep_default_na=False,
                            na_values=[""])  # fmt: skip
    except FileNotFoundError:
        raise ScoresError(
            f"{path} does not exist; write it with `workbench shortcuts --data DIR "
            f"--checkpoints SERIES --out {path}`"
        ) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ScoresError(f"{path} is not a readable CSV table ({exc}); write it again") from None
    missing = [c for c in SCORE_COLUMNS if c not in table.columns]
    if missing:
        raise ScoresError(
            f"{path} lacks the column(s) {', '.join(missing)}; it is not a "
            "`workbench shortcuts` table — write it with that command"
        )
    for c in ("score", "data_score", "reliance"):
        table[c] = pd.to_numeric(table[c], errors="coerce")
    table["cause"] = table["cause"].astype(object).fillna("").astype(str)
    table["evidence"] = table["evidence"].astype(object).fillna("").astype(str)
    twice = table[table.duplicated(["post_id", "split"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise ScoresError(
            f"{path} lists post {first['post_id']} ({first['split']}) {len(twice)} times; "
            "write the table again"
        )
    return table[list(SCORE_COLUMNS)].reset_index(drop=True)


def _people(state: pd.DataFrame) -> pd.DataFrame:
    if state.empty or "annotator" not in state:
        return state
    return state[~state["annotator"].astype(str).str.startswith(MACHINE)]


def _split_tags(value: object) -> list[str]:
    return [a for a in value.split(";") if a] if isinstance(value, str) else []


def post_table(
    table: pd.DataFrame,
    split: str,
    state: pd.DataFrame,
    *,
    scores: pd.DataFrame | None = None,
    flags: pd.DataFrame | None = None,
    detections: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per post of ``split`` in a manifest ``table``, best shortcut score first.

    ``state``: the tag store's current image state (``image``, ``bucket``, ``artifacts``,
    ``annotator``...); ``scores``: :func:`read_scores`; ``flags``: the store's post flags;
    ``detections``: ``workbench detect`` rows (``image``, ``artifact``, ``detected``).
    Columns: ``post_id``, ``photos`` (list of images), ``n``, the scores (NaN without a table),
    ``tagged`` (``artifact k/n`` per human tag), ``detected`` (``artifact k/n`` per detected
    artifact), ``flags``, ``reviewed`` (a person tagged every photo or flagged the post),
    ``queries`` (list of ``(query image, bucket)`` of the same post in the query split).
    Posts without a score sort last, then by post id.
    """
    if split not in set(table["split"]):
        raise ValueError(f"the dataset has no {split!r} photos; choose one of "
                         f"{', '.join(sorted(set(table['split'])))}")  # fmt: skip
    people = _people(state)
    tagged = people.set_index("image")["artifacts"] if len(people) else pd.Series(dtype=object)
    buckets = people.set_index("image")["bucket"] if len(people) else pd.Series(dtype=object)
    post_flags = {}
    if flags is not None and len(flags):
        post_flags = dict(zip(flags["post_id"].astype(str), flags["flags"], strict=True))
    found: dict[str, set[str]] = {}
    if detections is not None and len(detections):
        hit = detections[detections["detected"].astype(bool)]
        for image, group in hit.groupby("image"):
            found[str(image)] = set(group["artifact"])
    queries = table[table["split"] == "query"].groupby(table["post_id"].astype(str))["image"]
    queries = {p: list(v) for p, v in queries}
    rows = []
    part = table[table["split"] == split]
    for post, group in part.groupby(part["post_id"].astype(str), sort=True):
        photos = list(group["image"])
        counts: dict[str, int] = {}
        seen: dict[str, int] = {}
        for img in photos:
            for a in _split_tags(tagged.get(img)):
                counts[a] = counts.get(a, 0) + 1
            for a in found.get(img, ()):
                seen[a] = seen.get(a, 0) + 1
        n = len(photos)
        rows.append({
            "post_id": post,
            "photos": photos,
            "n": n,
            "tagged": ", ".join(f"{a} {c}/{n}" for a, c in sorted(counts.items())),
            "detected": ", ".join(f"{a} {c}/{n}" for a, c in sorted(seen.items())),
            "flags": post_flags.get(post, "") or "",
            "reviewed": bool(post_flags.get(post)) or all(img in tagged.index for img in photos),
            "queries": [(q, buckets.get(q, "") or "") for q in queries.get(post, [])],
        })  # fmt: skip
    out = pd.DataFrame(rows)
    cols = ["score", "data_score", "reliance", "cause", "evidence"]
    if scores is not None and len(scores):
        mine = scores[scores["split"] == split].drop(columns="split")
        out = out.merge(mine, on="post_id", how="left")
    else:
        for c in cols:
            out[c] = float("nan") if c in ("score", "data_score", "reliance") else ""
    out["cause"] = out["cause"].fillna("")
    out["evidence"] = out["evidence"].fillna("")
    out = out.sort_values(["score", "post_id"], ascending=[False, True], na_position="last",
                          kind="stable")  # fmt: skip
    return out.reset_index(drop=True)


def filter_posts(
    posts: pd.DataFrame,
    *,
    artifacts: Iterable[str] = (),
    min_score: float | None = None,
    reviewed: str = "all",
    detected: Iterable[str] = (),
) -> pd.DataFrame:
    """The rows of :func:`post_table` that pass the filters.

    ``artifacts``: keep posts whose cause or human tags name one of them; ``min_score``: keep
    posts scored at least this (unscored posts drop out); ``reviewed``: ``all``, ``reviewed``
    or ``not reviewed``; ``detected``: keep posts where one of these artifacts was detected.
    """
    if reviewed not in ("all", "reviewed", "not reviewed"):
        raise ValueError(f"reviewed must be all, reviewed or not reviewed, got {reviewed!r}")
    keep = pd.Series(True, index=posts.index)
    arts = set(artifacts)
    if arts:
        names = [
            {cause_kind(cause)} - {""} | {t.split(" ")[0] for t in tags.split(", ") if t}
            for cause, tags in zip(posts["cause"], posts["tagged"], strict=True)
        ]
        keep &= pd.Series([bool(n & arts) for n in names], index=posts.index)
    if min_score is not None:
        keep &= posts["score"].fillna(float("-inf")) >= float(min_score)
    if reviewed != "all":
        keep &= posts["reviewed"] == (reviewed == "reviewed")
    det = set(detected)
    if det:
        hit = [bool({t.split(" ")[0] for t in d.split(", ") if t} & det) for d in posts["detected"]]
        keep &= pd.Series(hit, index=posts.index)
    return posts[keep]


def tag_all(
    photos: Sequence[str], artifact: str, state: pd.DataFrame
) -> list[tuple[str, list[str], list[dict]]]:
    """What tagging every photo of a post with ``artifact`` writes: ``(image, artifacts,
    regions)`` per photo that lacks it, keeping each photo's own tags and regions."""
    people = _people(state)
    mine = people.set_index("image") if len(people) else None
    out = []
    for img in photos:
        have, regions = [], []
        if mine is not None and img in mine.index:
            have = _split_tags(mine.at[img, "artifacts"])
            regions = list(mine.at[img, "regions"] or [])
        if artifact not in have:
            out.append((img, sorted({*have, artifact}), regions))
    return out


def detected_of(detections: pd.DataFrame, photos: Sequence[str]) -> pd.DataFrame:
    """The detections above threshold on ``photos``: ``image``, ``artifact``, ``score``,
    ``annotator`` (``detector:NAME@VERSION``), ``region`` — what a confirm or reject acts on."""
    if detections is None or detections.empty:
        return pd.DataFrame(columns=["image", "artifact", "score", "annotator", "region"])
    hit = detections[detections["image"].isin(set(photos)) & detections["detected"].astype(bool)]
    return hit[["image", "artifact", "score", "annotator", "region"]].reset_index(drop=True)
