"""Rules driven by annotators' decisions: one animal per post, exclusions by bucket/tag/flag."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from curation.rules.base import (
    check_known,
    check_splits,
    check_table,
    removal_frame,
    tag_set,
)
from curation.vocabulary import EXCLUDE, MULTIPLE_ANIMALS

MULTIPLE = MULTIPLE_ANIMALS


def one_animal_per_post(
    table: pd.DataFrame,
    post_flags: pd.DataFrame,
    *,
    image_flags: pd.DataFrame | None = None,
    flag: str = MULTIPLE,
    splits: Sequence[str] = ("train",),
    unknown: str = "raise",
) -> pd.DataFrame:
    """Drop posts flagged as showing several animals (a post must be one identity).

    ``post_flags``: ``post_id`` and ``flags`` (``;``-joined), e.g. :meth:`TagStore.post_flags`;
    every photo of a flagged post within ``splits`` is dropped. ``image_flags``: ``image`` and
    ``flags`` (e.g. :meth:`TagStore.current`); a photo flagged on its own is dropped alone.
    """
    rule = "one_animal_per_post"
    check_table(table, rule)
    splits = check_splits(splits, rule)
    if not {"post_id", "flags"} <= set(post_flags.columns):
        raise ValueError(f"{rule}: post flags need columns 'post_id' and 'flags'")
    check_known(post_flags["post_id"], set(table["post_id"]), "flagged post", rule, unknown)
    who = _who(post_flags)
    rows = []
    scope = table[table["split"].isin(splits)]
    flagged = {p for p, f in zip(post_flags["post_id"], post_flags["flags"], strict=True)
               if flag in tag_set(f)}  # fmt: skip
    for rec in scope[scope["post_id"].isin(flagged)].to_dict("records"):
        reason = f"post {rec['post_id']} is flagged {flag}{who.get(rec['post_id'], '')}"
        rows.append(_row(rec, rule, "post-flag", reason))
    if image_flags is not None:
        if not {"image", "flags"} <= set(image_flags.columns):
            raise ValueError(f"{rule}: image flags need columns 'image' and 'flags'")
        check_known(image_flags["image"], set(table["image"]), "flagged image", rule, unknown)
        images = {i for i, f in zip(image_flags["image"], image_flags["flags"], strict=True)
                  if flag in tag_set(f)}  # fmt: skip
        by = _who(image_flags, key="image")
        for rec in scope[scope["image"].isin(images)].to_dict("records"):
            reason = f"{rec['image']} is flagged {flag}{by.get(rec['image'], '')}"
            rows.append(_row(rec, rule, "image-flag", reason))
    return removal_frame(rows)


def exclude_by_tags(
    table: pd.DataFrame,
    tags: pd.DataFrame,
    *,
    buckets: Iterable[str] = (),
    artifacts: Iterable[str] = (),
    flags: Iterable[str] = (EXCLUDE,),
    annotators: Iterable[str] | None = None,
    post_flags: pd.DataFrame | None = None,
    splits: Sequence[str] = ("train",),
    unknown: str = "raise",
) -> pd.DataFrame:
    """Drop photos by annotators' decisions.

    ``tags``: the store's current state (``image, bucket, artifacts, flags, annotator``). A photo
    is dropped when its bucket is in ``buckets``, it carries any of ``artifacts``, or any of
    ``flags``; with ``post_flags`` (``post_id, flags``), every photo of a post carrying one of
    ``flags`` is dropped too. ``annotators``: only decisions whose latest author is one of them.
    ``cause`` is ``bucket:<b>``, ``artifact:<a>`` or ``flag:<f>``.
    """
    rule = "exclude_by_tags"
    check_table(table, rule)
    splits = check_splits(splits, rule)
    buckets, artifacts, flags = set(buckets), set(artifacts), set(flags)
    if not (buckets or artifacts or flags):
        raise ValueError(f"{rule}: name at least one bucket, artifact or flag to exclude")
    need = {"image", "bucket", "artifacts", "flags"}
    if not need <= set(tags.columns):
        raise ValueError(
            f"{rule}: tags need columns {', '.join(sorted(need))} (TagStore.current())"
        )
    check_known(tags["image"], set(table["image"]), "tagged image", rule, unknown)
    if annotators is not None:
        tags = tags[tags["annotator"].isin(set(annotators))]
    meta = table[table["split"].isin(splits)].set_index("image")
    rows = []
    for rec in tags.to_dict("records"):
        image = rec["image"]
        if image not in meta.index:
            continue
        base = {"image": image, **meta.loc[image, ["post_id", "split"]].to_dict()}
        by = f" (by {rec['annotator']})" if rec.get("annotator") else ""
        if rec["bucket"] in buckets:
            rows.append(_row(base, rule, f"bucket:{rec['bucket']}",
                             f"{image} is in bucket {rec['bucket']}{by}"))  # fmt: skip
        for a in sorted(tag_set(rec["artifacts"]) & artifacts):
            rows.append(_row(base, rule, f"artifact:{a}", f"{image} is tagged {a}{by}"))
        for f in sorted(tag_set(rec["flags"]) & flags):
            rows.append(_row(base, rule, f"flag:{f}", f"{image} is flagged {f}{by}"))
    if post_flags is not None:
        check_known(post_flags["post_id"], set(table["post_id"]), "flagged post", rule, unknown)
        who = _who(post_flags)
        scope = table[table["split"].isin(splits)]
        for post, value in zip(post_flags["post_id"], post_flags["flags"], strict=True):
            if annotators is not None and "annotator" in post_flags.columns:
                author = post_flags.loc[post_flags["post_id"] == post, "annotator"].iloc[0]
                if author not in set(annotators):
                    continue
            for f in sorted(tag_set(value) & flags):
                for rec in scope[scope["post_id"] == post].to_dict("records"):
                    reason = f"post {post} is flagged {f}{who.get(post, '')}"
                    rows.append(_row(rec, rule, f"flag:{f}", reason))
    return removal_frame(rows)


def _who(flags: pd.DataFrame, key: str = "post_id") -> dict[str, str]:
    if "annotator" not in flags.columns:
        return {}
    return {k: f" (by {a})" for k, a in zip(flags[key], flags["annotator"], strict=True) if a}


def _row(rec: dict, rule: str, cause: str, reason: str) -> dict:
    return {"image": rec["image"], "post_id": rec["post_id"], "split": rec["split"],
            "rule": rule, "cause": cause, "reason": reason}  # fmt: skip
