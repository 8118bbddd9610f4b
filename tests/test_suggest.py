"""Suggested buckets from retrieval outcomes and attribution shares."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from curation.store import TagStore
from curation.suggest import NO_MATCH, review, suggest, suggest_one


def test_each_bucket_with_its_reason_and_numbers():
    s = suggest_one(None, False, k=5)
    assert s.bucket == NO_MATCH and "can never be found" in s.reason
    s = suggest_one(14, True, k=5)
    assert (s.bucket, s.rank, s.k) == ("missed", 14, 5)
    assert "first appears at rank 14 (top 5 shown)" in s.reason
    s = suggest_one(None, True, k=5)
    assert s.bucket == "missed" and "not found in the ranked list" in s.reason
    s = suggest_one(5, True, k=5, animal_mass=0.8, artifact_mass=0.1)
    assert s.bucket == "worked"
    assert s.reason == (
        "found at rank 5 (top 5) with 80% of the attribution on the animal, 10% on artifact regions"
    )
    s = suggest_one(1, True, animal_mass=0.32)
    assert s.bucket == "spurious" and s.animal_mass == 0.32
    assert "only 32% of the positive attribution lies on the animal (below 50%)" in s.reason
    s = suggest_one(2, True, animal_mass=0.9, artifact_mass=0.3)
    assert s.bucket == "spurious" and "30% of the positive attribution lies on artifact" in s.reason
    s = suggest_one(1, True)
    assert s.bucket == "worked" and "cannot be ruled out" in s.reason


def test_thresholds_are_parameters():
    assert suggest_one(1, True, animal_mass=0.6, animal_min=0.7).bucket == "spurious"
    assert suggest_one(1, True, artifact_mass=0.25, artifact_max=0.2).bucket == "spurious"
    assert suggest_one(6, True, k=10).bucket == "worked"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, True), {}, "rank must be a whole number >= 1"),
        ((2.5, True), {}, "rank must be a whole number"),
        ((3, False), {}, "not in the gallery"),
        ((1, "maybe"), {}, "in_gallery must be true or false"),
        ((1, True), {"animal_mass": 1.2}, r"animal_mass must be a share in \[0, 1\]"),
        ((1, True), {"k": 0}, "k must be a positive"),
    ],
)
def test_bad_inputs_are_rejected(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        suggest_one(*args, **kwargs)


def test_table_of_outcomes():
    outcomes = pd.DataFrame(
        {
            "image": ["query/3_1.jpg", "query/1_1.jpg", "query/2_1.jpg", "query/4_1.jpg"],
            "post_id": ["3", "1", "2", "4"],
            "rank": [1, 7, float("nan"), 2],
            "in_gallery": [True, True, False, "true"],
            "animal_mass": [0.2, float("nan"), float("nan"), 0.9],
        }
    )
    out = suggest(outcomes, k=5)
    assert list(out["image"]) == [
        "query/1_1.jpg",
        "query/2_1.jpg",
        "query/3_1.jpg",
        "query/4_1.jpg",
    ]
    assert list(out["bucket"]) == ["missed", NO_MATCH, "spurious", "worked"]
    assert out["rank"].tolist()[0] == 7 and out["rank"].isna().tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert math.isnan(out["artifact_mass"].iloc[0])
    with pytest.raises(ValueError, match="lack column.*in_gallery"):
        suggest(outcomes.drop(columns="in_gallery"))
    bad = outcomes.assign(rank=[1, 7, 3, 2])
    with pytest.raises(ValueError, match="query/2_1.jpg: rank 3 given"):
        suggest(bad)


def test_review_against_the_store(tmp_path):
    outcomes = pd.DataFrame(
        {
            "image": ["query/1_1.jpg", "query/2_1.jpg", "query/3_1.jpg", "query/4_1.jpg"],
            "post_id": ["1", "2", "3", "4"],
            "rank": [1, 9, None, 1],
            "in_gallery": [True, True, False, True],
        }
    )
    sug = suggest(outcomes)
    store = TagStore(tmp_path / "t.sqlite")
    store.set_bucket("query/1_1.jpg", "worked", "ann", suggested="worked")
    store.set_bucket("query/2_1.jpg", "spurious", "ann", suggested="missed")
    store.set_bucket("query/3_1.jpg", "missed", "ann", suggested=NO_MATCH)
    out = review(sug, store.current())
    assert list(out["status"]) == ["confirmed", "overridden", "confirmed", "pending"]
    assert list(out["decided"].fillna("-")) == ["worked", "spurious", "missed", "-"]
    store.close()
