"""What curation could do with the splits a dataset has: a query/gallery-only folder has nothing
to clean for training and nothing to train on, and the output says so instead of suggesting a
training run that fails."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from curation.rules.apply import RuleSpec

MIN_TRAIN_POSTS = 8  # posts a default batch (32 photos, 4 per post) needs


def _counts(table: pd.DataFrame) -> str:
    counts = table["split"].value_counts()
    parts = [f"{int(counts[s])} {s}" for s in ("train", "query", "gallery") if s in counts]
    return ", ".join(parts) or "no photos"


def rule_notes(table: pd.DataFrame, specs: Sequence[RuleSpec]) -> list[str]:
    """One sentence per rule whose splits the dataset does not have (e.g. a train-only rule on
    query/gallery data), saying what it could and could not do."""
    present = set(table["split"])
    notes = []
    for spec in specs:
        splits = spec.effective().get("splits")
        if splits is None:
            continue
        missing = [s for s in splits if s not in present]
        if len(missing) == len(splits):
            extra = (
                "; it still drops a query's copies from the gallery and train photos that "
                "leak into query/gallery"
                if spec.name == "duplicates"
                else ""
            )
            notes.append(
                f"{spec.name} acts on the {', '.join(splits)} split(s), which this dataset does "
                f"not have ({_counts(table)}): it removed nothing there{extra}"
            )
    return notes


def training_note(kept: pd.DataFrame, min_posts: int = MIN_TRAIN_POSTS) -> str | None:
    """None when the kept table can be trained on with the default batch; else why not."""
    train = kept[kept["split"] == "train"]
    posts = train["post_id"].nunique()
    if train.empty:
        return (
            f"nothing to train on: the export has no train photos ({_counts(kept)}); it serves "
            "evaluation, search and browsing. To retrain, add a train/ folder (or train rows "
            "to the manifest) with other posts than query/gallery"
        )
    if posts < min_posts:
        return (
            f"too little to train on: {posts} train post(s); a batch of 32 photos with 4 per post "
            f"needs {min_posts} (to try anyway: --batch-size {4 * max(posts, 1)})"
        )
    return None
