"""Several annotators: every vote kept, consensus, Cohen's and Fleiss' kappa, conflicts."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner

from curation.store import StoreError, TagStore
from curation.store_agreement import cohen_kappa, fleiss_kappa
from tests.stores import store_url  # noqa: F401  (fixture)
from workbench.cli import main

# Fleiss (1971) as worked in Wikipedia's "Fleiss' kappa" article: 10 subjects, 14 raters,
# 5 categories; P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.2099, abs=5e-4)
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)  # perfect agreement
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))  # one category: undefined
    with pytest.raises(ValueError, match="same number of raters"):
        fleiss_kappa([[2, 1], [1, 1]])


def test_cohen_kappa_matches_the_worked_example():
    # Wikipedia's "Cohen's kappa" example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10,
    # no/no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert math.isnan(cohen_kappa(["worked"] * 3, ["worked"] * 3))


QUERIES = [f"query/{i}_1.jpg" for i in range(1, 7)]
VOTES = {  # who put which query in which bucket ("" = not decided)
    "ann": ["worked", "missed", "spurious", "worked", "missed", "worked"],
    "bob": ["worked", "missed", "missed", "worked", "spurious", ""],
    "cat": ["worked", "spurious", "spurious", "worked", "missed", "worked"],
}


def _votes(store: TagStore) -> None:
    for who, buckets in VOTES.items():
        for image, bucket in zip(QUERIES, buckets, strict=True):
            if bucket:
                store.set_bucket(image, bucket, who)
    store.set_artifacts(QUERIES[0], ["tongue"], "ann")
    store.set_artifacts(QUERIES[0], ["hands"], "bob")


def test_every_vote_is_kept_and_agreement_is_measured(store_url):  # noqa: F811
    with TagStore(store_url, dataset="pets@votes") as s:
        _votes(s)
        s.set_bucket(QUERIES[5], "missed", "ann")  # ann changes her mind: her latest counts
        per = s.current(by="annotator")
        assert len(per) == 6 + 5 + 6
        assert list(per[per["image"] == QUERIES[0]]["annotator"]) == ["ann", "bob", "cat"]
        assert len(s.current()) == 6  # one row per image: latest decision of anyone
        cons = s.consensus().set_index("image")
        assert cons.loc[QUERIES[1], "bucket"] == "missed"
        assert cons.loc[QUERIES[1], "votes"] == "missed 2, spurious 1"
        assert cons.loc[QUERIES[1], "agreement"] == pytest.approx(2 / 3)
        assert pd.isna(cons.loc[QUERIES[5], "bucket"])  # ann missed, cat worked: a tie
        assert not cons.loc[QUERIES[0], "conflict"] and cons.loc[QUERIES[2], "conflict"]
        result = s.agreement()
    assert result.annotators == ("ann", "bob", "cat") and result.method == "fleiss"
    pairs = result.pairs.set_index(["annotator_a", "annotator_b"])
    ann = ["worked", "missed", "spurious", "worked", "missed", "missed"]
    bob, cat = VOTES["bob"], VOTES["cat"]
    assert pairs.loc[("ann", "bob"), "queries"] == 5  # bob left the sixth undecided
    assert pairs.loc[("ann", "bob"), "kappa"] == pytest.approx(cohen_kappa(ann[:5], bob[:5]))
    assert pairs.loc[("ann", "cat"), "agreed"] == pytest.approx(4 / 6)
    assert pairs.loc[("ann", "cat"), "kappa"] == pytest.approx(cohen_kappa(ann, cat))
    # Fleiss over the five queries all three decided; categories worked, missed, spurious
    table = [[3, 0, 0], [0, 2, 1], [0, 1, 2], [3, 0, 0], [0, 2, 1]]
    assert result.overall_queries == 5
    assert result.overall == pytest.approx(fleiss_kappa(table))
    conflicts = result.conflicts
    assert list(zip(conflicts["image"], conflicts["kind"], strict=True)) == [
        (QUERIES[0], "artifacts"), (QUERIES[1], "bucket"), (QUERIES[2], "bucket"),
        (QUERIES[4], "bucket"), (QUERIES[5], "bucket"),
    ]  # fmt: skip
    assert conflicts["decisions"].iloc[0] == "ann: tongue; bob: hands"


def test_two_annotators_use_cohen_and_one_has_no_agreement(store_url):  # noqa: F811
    with TagStore(store_url, dataset="pets@two") as s:
        for image, a, b in zip(QUERIES, VOTES["ann"], VOTES["cat"], strict=True):
            s.set_bucket(image, a, "ann")
            s.set_bucket(image, b, "cat")
        two = s.agreement()
        assert two.method == "cohen" and two.overall == pytest.approx(
            cohen_kappa(VOTES["ann"], VOTES["cat"])
        )
        with pytest.raises(StoreError, match="'image' or 'annotator'"):
            s.current(by="post")
    with TagStore(store_url, dataset="pets@one") as s:
        s.set_bucket(QUERIES[0], "worked", "ann")
        one = s.agreement()
        assert one.method == "none" and math.isnan(one.overall) and one.pairs.empty


def test_agreement_cli_prints_kappas_and_conflicts(tree, tmp_path):
    db = str(tmp_path / "a.sqlite")
    run = CliRunner().invoke
    q = ["query/201_1.jpg", "query/7_202_1.jpg"]
    for who, buckets in (("ann", ["missed", "worked"]), ("bob", ["spurious", "worked"])):
        for image, bucket in zip(q, buckets, strict=True):
            r = run(main, ["tags", "--store", db, "--data", str(tree), "--annotator", who,
                           "bucket", image, bucket])  # fmt: skip
            assert r.exit_code == 0, r.output
    r = run(main, ["tags", "agreement", "--store", db, "--data", str(tree)])
    assert r.exit_code == 0, r.output
    expected = cohen_kappa(["missed", "worked"], ["spurious", "worked"])
    assert f"ann vs bob: Cohen's kappa {expected:.3f} over 2 queries, agreed 50%" in r.output
    assert "conflicts: 1" in r.output
    assert "query/201_1.jpg  bucket: ann: missed; bob: spurious" in r.output
    other = tmp_path / "other"
    (other / "query").mkdir(parents=True)
    for f in ("query/201_1.jpg", "gallery/201_2.jpg"):
        (other / f).parent.mkdir(parents=True, exist_ok=True)
        (other / f).write_bytes((tree / f).read_bytes())
    r = run(main, ["tags", "agreement", "--store", db, "--data", str(other)])
    assert r.exit_code == 0, r.output
    assert "agreement needs two annotators" in r.output and "conflicts: none" in r.output
