"""The `shortcut` curation rule on hand-made score tables; per-split counts and the warning for
rules that remove query or gallery photos."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curation.dataset import load_folder
from curation.rules import SplitWarning, apply_rules, removed_per_split, shortcut


@pytest.fixture
def dataset(tmp_path):
    for name in ("train/1_1", "train/1_2", "train/2_1", "train/2_2", "query/5_1", "gallery/5_2",
                 "gallery/5_3", "gallery/6_1"):  # fmt: skip
        path = tmp_path / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((16, 8, 3), 100, np.uint8)).save(path)
    return load_folder(tmp_path)


def _scores(rows):
    return pd.DataFrame(rows, columns=["post_id", "split", "score", "cause"])


def test_threshold_is_inclusive_and_removes_whole_posts(dataset):
    scores = _scores([("1", "train", 0.75, "tongue relied on"), ("2", "train", 0.7499, "none")])
    out = shortcut(dataset.table, scores, threshold=0.75)
    assert out["image"].tolist() == ["train/1_1.png", "train/1_2.png"]
    assert (out["cause"] == "tongue").all() and (out["rule"] == "shortcut").all()
    assert out["reason"].iloc[0] == "shortcut score 0.750 >= 0.75 (tongue relied on)"
    assert shortcut(dataset.table, scores, threshold=0.76).empty
    with pytest.raises(ValueError, match=r"threshold must lie in \[0, 1\]"):
        shortcut(dataset.table, scores, threshold=1.5)


def test_splits_decide_where_posts_are_dropped(dataset):
    scores = _scores([("5", "gallery", 0.9, "grass present"), ("6", "gallery", 0.2, "none"),
                      ("1", "train", 0.95, "hands relied on")])  # fmt: skip
    train_only = shortcut(dataset.table, scores, threshold=0.5)
    assert set(train_only["split"]) == {"train"}
    gallery = shortcut(dataset.table, scores, threshold=0.5, splits=("gallery",))
    assert gallery["image"].tolist() == ["gallery/5_2.png", "gallery/5_3.png"]  # not query/5_1
    both = shortcut(dataset.table, scores, threshold=0.5, splits=("train", "gallery"))
    counts = removed_per_split(both).set_index("rule")
    assert counts.loc["shortcut", ["train", "query", "gallery"]].tolist() == [2, 0, 2]


def test_apply_rules_warns_when_query_or_gallery_photos_go(dataset):
    scores = _scores([("5", "gallery", 0.9, "grass present"), ("1", "train", 0.9, "none")])
    with pytest.warns(SplitWarning, match="removes 2 gallery photo"):
        kept, removals = apply_rules(dataset, "shortcut:splits=train+gallery", shortcuts=scores)
    assert len(kept) == 4 and len(removals) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", SplitWarning)
        _, removals = apply_rules(dataset, "shortcut", shortcuts=scores)  # train only: silent
    assert removals["split"].tolist() == ["train", "train"]
    with pytest.raises(ValueError, match="run `workbench shortcuts`"):
        apply_rules(dataset, "shortcut")


def test_confirmed_only_reads_the_confirmed_column(dataset):
    scores = _scores([("1", "train", 0.9, "tongue relied on"), ("2", "train", 0.9, "glare")])
    with pytest.raises(ValueError, match="'confirmed' column"):
        shortcut(dataset.table, scores, confirmed_only=True)
    scores["confirmed"] = ["false", "True"]
    out = shortcut(dataset.table, scores, confirmed_only=True)
    assert out["post_id"].unique().tolist() == ["2"]
    assert len(shortcut(dataset.table, scores)) == 4  # "all" ignores the column


def test_bad_tables_are_refused_with_the_fix(dataset):
    with pytest.raises(ValueError, match="posts.csv"):
        shortcut(dataset.table, pd.DataFrame({"post_id": ["1"]}))
    stray = _scores([("77", "train", 0.9, "none")])
    with pytest.raises(ValueError, match="not in the dataset: 77"):
        shortcut(dataset.table, stray)
    assert shortcut(dataset.table, stray, unknown="ignore").empty
    with pytest.raises(ValueError, match="not numbers"):
        shortcut(dataset.table, _scores([("1", "train", "high", "none")]))


def test_with_confirmations_follows_the_review_of_the_causes_artifact(dataset):
    from curation.rules.shortcut import with_confirmations

    scores = _scores([
        ("1", "train", 0.9, "tongue relied on"),
        ("2", "train", 0.9, "glare present"),
        ("5", "gallery", 0.8, "model regions"),
    ])  # fmt: skip
    dets = pd.DataFrame({
        "image": ["train/1_1.png", "train/2_1.png", "train/2_2.png", "gallery/5_2.png"],
        "artifact": ["tongue", "glare", "glare", "hands"],
        "review": ["confirmed", "confirmed", "rejected", "confirmed"],
    })  # fmt: skip
    got = with_confirmations(scores, dataset.table, dets)
    # post 1: its tongue confirmed; post 2: one glare confirmed but another rejected; post 5:
    # the model's own regions are no artifact to confirm (a hands confirmation does not count)
    assert got["confirmed"].tolist() == [True, False, False]
    assert "confirmed" not in scores.columns  # the caller's table is left as it was
    none = with_confirmations(scores, dataset.table, None)
    assert none["confirmed"].tolist() == [False, False, False]
    given = scores.assign(confirmed=["yes", "no", "no"])
    assert with_confirmations(given, dataset.table, dets) is given  # a file's own column wins
    out = shortcut(dataset.table, got, confirmed_only=True)
    assert out["post_id"].unique().tolist() == ["1"]


def test_export_confirmed_only_reads_the_stores_review(dataset, tmp_path_factory):
    from click.testing import CliRunner

    from curation.store import TagStore
    from workbench.cli import main

    tmp_path = tmp_path_factory.mktemp("work")  # outside the dataset: exports refuse it
    posts = tmp_path / "posts.csv"
    _scores([("1", "train", 0.9, "tongue present"), ("2", "train", 0.9, "glare present")]).to_csv(
        posts, index=False
    )
    url = tmp_path / "tags.sqlite"
    with TagStore(url, dataset=dataset) as ts:
        ts.add_detections(pd.DataFrame({
            "image": ["train/2_1.png"], "artifact": ["glare"], "score": [0.9],
            "threshold": [0.5], "region": ["[]"], "detector": ["detector:glare@1"],
        }))  # fmt: skip
        ts.review_detection("train/2_1.png", "glare", "detector:glare@1", annotator="ann")
    out = tmp_path / "clean"
    res = CliRunner().invoke(main, [
        "export", "--data", str(dataset.root), "--rules", "shortcut:confirmed_only=true",
        "--shortcuts", str(posts), "--store", str(url), "--out", str(out), "--no-buckets",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    kept = pd.read_csv(out / "manifest.csv", dtype={"post_id": str})
    assert set(kept.loc[kept["split"] == "train", "post_id"]) == {"1"}  # 2 was confirmed: gone
