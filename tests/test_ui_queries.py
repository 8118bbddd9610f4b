"""The pages' query tables and selections (ui.queries), on hand-made frames."""

from __future__ import annotations

import pandas as pd
import pytest

from ui.queries import (
    NO_BUCKET,
    filter_queries,
    query_labels,
    selection_region,
    shortcut_letters,
    triage_table,
)


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "query": ["q/1_1.jpg", "q/2_1.jpg", "q/3_1.jpg", "q/4_1.jpg"],
            "rank": [1, 7, pd.NA, 2],
            "outcome": ["found in top-k", "missed", "not in gallery", "found in top-k"],
            "bucket": ["worked", "", "", "spurious"],
            "artifact tags": ["tongue", "", "grass;hands", "hands"],
            "suggested": ["worked", "missed", "no-match-in-gallery", "spurious"],
            "status": ["confirmed", "pending", "pending", "confirmed"],
        }
    )


def test_empty_filters_keep_every_row_in_order():
    assert filter_queries(table())["query"].tolist() == table()["query"].tolist()


def test_each_filter_keeps_only_matching_rows():
    t = table()
    assert filter_queries(t, outcomes=["missed"])["query"].tolist() == ["q/2_1.jpg"]
    assert filter_queries(t, buckets=[NO_BUCKET])["query"].tolist() == ["q/2_1.jpg", "q/3_1.jpg"]
    assert filter_queries(t, buckets=["spurious", NO_BUCKET])["query"].tolist() == [
        "q/2_1.jpg", "q/3_1.jpg", "q/4_1.jpg",
    ]  # fmt: skip
    assert filter_queries(t, artifacts=["hands"])["query"].tolist() == ["q/3_1.jpg", "q/4_1.jpg"]
    both = filter_queries(t, artifacts=["hands"], status=["confirmed"])
    assert both["query"].tolist() == ["q/4_1.jpg"] and both.index.tolist() == [0]
    assert filter_queries(t, suggested=["no-match-in-gallery"])["query"].tolist() == ["q/3_1.jpg"]
    assert filter_queries(t, outcomes=["missed"], buckets=["worked"]).empty


def test_labels_name_rank_tags_and_bucket():
    labels = query_labels(table())
    assert labels["q/1_1.jpg"] == "q/1_1.jpg · rank 1 · tongue · worked"
    assert labels["q/2_1.jpg"] == "q/2_1.jpg · rank 7"
    assert labels["q/3_1.jpg"] == "q/3_1.jpg · not in gallery · grass;hands"


def test_triage_table_joins_suggestions_and_sources():
    queries = table().drop(columns=["suggested", "status"])
    sugg = pd.DataFrame(
        {
            "image": ["q/2_1.jpg"],
            "bucket": ["missed"],
            "reason": ["r"],
            "status": ["pending"],
            "animal_mass": [0.5],
            "artifact_mass": [0.1],
        }
    )
    found = pd.DataFrame(
        {
            "image": ["q/2_1.jpg"],
            "animal_source": ["truth"],
            "artifact_source": ["tags"],
            "target": ["match"],
        }
    )
    out = triage_table(queries, sugg, found).set_index("query")
    assert out.at["q/2_1.jpg", "suggested"] == "missed"
    assert out.at["q/2_1.jpg", "animal_mass"] == 0.5
    assert out.at["q/2_1.jpg", "animal_source"] == "truth"
    assert pd.isna(out.at["q/1_1.jpg", "suggested"])
    assert len(out) == 4


def test_a_box_selection_is_sorted_and_clipped_to_the_photo():
    sel = {"box": [{"x": [5, 1], "y": [2, 3]}, {"x": [120.0, -4.0], "y": [90.0, 10.0]}]}
    assert selection_region(sel, (100, 80)) == {
        "kind": "box", "points": [[0.0, 10.0], [100.0, 80.0]],
    }  # fmt: skip


def test_a_lasso_becomes_a_clipped_polygon_and_nothing_selected_is_none():
    sel = {"box": [], "lasso": [{"x": [1, 50, -3], "y": [2, 200, 4]}]}
    assert selection_region(sel, (40, 100)) == {
        "kind": "polygon", "points": [[1.0, 2.0], [40.0, 100.0], [0.0, 4.0]],
    }  # fmt: skip
    assert selection_region(None, (40, 100)) is None
    assert selection_region({"box": [], "lasso": []}, (40, 100)) is None


def test_shortcut_letters_are_distinct_and_avoid_reserved_keys():
    letters = shortcut_letters(["tongue", "text-overlay", "collage", "grass"], reserved="T1")
    assert letters == {"tongue": "O", "text-overlay": "E", "collage": "L", "grass": "G"}
    assert len(set(letters.values())) == len(letters)


def test_more_tags_than_letters_is_an_error_that_says_what_to_do():
    tags = [f"t{i}" for i in range(30)]
    with pytest.raises(ValueError, match="merge or remove some tags"):
        shortcut_letters(tags)
