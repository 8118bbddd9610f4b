"""Detections as machine tags: idempotent writes, new versions supersede, reviews; views."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from curation.dataset import load_dataset
from curation.store import StoreError, TagStore
from tests.stores import store_url  # noqa: F401  (fixture)
from workbench.cli import main

Q, G = "query/201_1.jpg", "gallery/201_2.jpg"
BOX = [{"artifact": "hands", "kind": "box", "points": [[1, 1], [9, 9]]}]


def _found(version: str, scores: dict[tuple[str, str], float]) -> pd.DataFrame:
    rows = []
    for (image, artifact), score in scores.items():
        region = [{**BOX[0], "artifact": artifact}] if score >= 0.5 else []
        rows.append({"image": image, "artifact": artifact, "score": score, "threshold": 0.5,
                     "region": json.dumps(region),
                     "detector": f"detector:{artifact}@{version}"})  # fmt: skip
    return pd.DataFrame(rows)


def test_detections_are_idempotent_and_new_versions_supersede(store_url):  # noqa: F811
    with TagStore(store_url, dataset="pets@det") as s:
        first = s.add_detections(_found("1", {(Q, "hands"): 0.9, (G, "hands"): 0.2,
                                              (Q, "glare"): 0.7}))  # fmt: skip
        assert (first.added, first.unchanged, first.superseded) == (3, 0, 0)
        again = s.add_detections(_found("1", {(Q, "hands"): 0.9, (G, "hands"): 0.2}))
        assert (again.added, again.unchanged) == (0, 2)
        assert s.count() == 3
        det = s.detections()
        assert list(zip(det["image"], det["artifact"], det["detected"], strict=True)) == [
            (G, "hands", False), (Q, "glare", True), (Q, "hands", True),
        ]  # fmt: skip
        assert set(det["review"]) == {"unreviewed"}
        assert det["regions"].iloc[2] == BOX and det["detector"].iloc[2] == "detector:hands@1"
        assert len(s.detections(detected_only=True)) == 2
        assert list(s.detections(min_score=0.8)["artifact"]) == ["hands"]
        # version 2 of the hands detector: no longer sees hands on Q, now sees them on G
        v2 = s.add_detections(_found("2", {(Q, "hands"): 0.1, (G, "hands"): 0.95}))
        assert (v2.added, v2.unchanged, v2.superseded) == (2, 0, 2)
        det = s.detections().set_index(["image", "artifact"])
        assert det.loc[(Q, "hands"), "detector"] == "detector:hands@2"
        assert not det.loc[(Q, "hands"), "detected"] and det.loc[(G, "hands"), "detected"]
        assert det.loc[(Q, "glare"), "detector"] == "detector:glare@1"  # other detector kept
        assert len(det) == 3
        assert s.current().empty  # machine tags never show as human tags


def test_reviews_confirm_reject_and_undo(store_url):  # noqa: F811
    with TagStore(store_url, dataset="pets@rev") as s:
        s.add_detections(_found("1", {(Q, "hands"): 0.9, (Q, "glare"): 0.6}))
        s.set_bucket(Q, "spurious", "ann")
        s.review_detection(Q, "hands", "hands", "confirm", annotator="ann")
        s.review_detection(Q, "glare", "detector:glare@1", "reject", annotator="bob")
        det = s.detections().set_index("artifact")
        assert (
            det.loc["hands", "review"] == "confirmed" and det.loc["hands", "reviewed_by"] == "ann"
        )
        assert det.loc["glare", "review"] == "rejected"
        undone = s.undo("ann")
        assert undone["action"] == "review" and undone["verdict"] == "confirm"
        assert s.detections().set_index("artifact").loc["hands", "review"] == "unreviewed"
        assert s.current().iloc[0]["bucket"] == "spurious"  # the review was ann's last event
        with pytest.raises(StoreError, match=r"no current detection of tongue.*none"):
            s.review_detection(Q, "tongue", "tongue", "confirm", annotator="ann")
        with pytest.raises(StoreError, match=r"by hands@7.*detector:hands@1"):
            s.review_detection(Q, "hands", "hands@7", "confirm", annotator="ann")
        with pytest.raises(StoreError, match="confirm or reject"):
            s.review_detection(Q, "hands", "hands", "maybe", annotator="ann")
        with pytest.raises(StoreError, match="sign detections"):
            s.review_detection(Q, "hands", "hands", "reject", annotator="detector:hands@1")
        with pytest.raises(StoreError, match="sign detections"):
            s.set_bucket(Q, "worked", "detector:me@1")
        hist = s.history(Q)
        assert set(hist["action"]) == {"detection", "bucket", "review", "undo"}
        assert hist.loc[hist["action"] == "detection", "score"].tolist() == [0.9, 0.6]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"score": 1.5}, "score must lie in"),
        ({"detector": "hands@1"}, "not a detector signature"),
        ({"region": json.dumps([{**BOX[0], "artifact": "glare"}])}, "names another tag"),
        ({"region": json.dumps([{**BOX[0], "points": [[1, 1]]}])}, "two corner points"),
    ],
)
def test_bad_detections_are_refused(tmp_path, change, message):
    found = _found("1", {(Q, "hands"): 0.9}).assign(**change)
    with TagStore(tmp_path / "t.sqlite") as s:
        with pytest.raises(StoreError, match=message):
            s.add_detections(found)
        assert s.count() == 0


def test_the_runners_table_is_taken_as_it_comes(tmp_path):
    row = {"image": Q, "artifact": "text", "score": 0.9, "threshold": 0.8, "region": "[]",
           "annotator": "detector:text@1", "post_id": "201"}  # fmt: skip
    runner = pd.DataFrame([row])
    with TagStore(tmp_path / "t.sqlite") as s:
        assert s.add_detections(runner).added == 1
        det = s.detections()
        assert (det["artifact"].iloc[0], det["name"].iloc[0]) == ("text-overlay", "text")
        s.review_detection(Q, "text", "detector:text@1", "confirm", annotator="ann")  # its name
        assert s.detections()["review"].iloc[0] == "confirmed"


def test_a_new_detector_tag_joins_the_vocabulary(tmp_path):
    with TagStore(tmp_path / "t.sqlite", vocabulary=["tongue"]) as s:
        done = s.add_detections(_found("1", {(Q, "collar"): 0.8}))
        assert done.new_tags == ("collar",) and s.vocabulary() == ["tongue", "collar"]


def test_saved_views_per_dataset(store_url):  # noqa: F811
    a = TagStore(store_url, dataset="pets@a")
    b = TagStore(store_url, dataset="pets@b")
    a.save_view("missed tongues", "triage", {"bucket": "missed", "artifact": "tongue"}, "ann")
    a.save_view("all", "browse", {}, "bob")
    a.save_view("missed tongues", "triage", {"bucket": "missed", "epoch": 12}, "bob")  # replaces
    views = a.views()
    assert list(zip(views["name"], views["page"], strict=True)) == [
        ("all", "browse"),
        ("missed tongues", "triage"),
    ]
    assert views["params"].iloc[1] == {"bucket": "missed", "epoch": 12}
    assert views["annotator"].iloc[1] == "bob"
    assert list(a.views(page="triage")["name"]) == ["missed tongues"]
    assert b.views().empty  # another dataset's views are not shown
    a.delete_view("all")
    assert list(a.views()["name"]) == ["missed tongues"]
    with pytest.raises(StoreError, match=r"no saved view 'all'.*missed tongues"):
        a.delete_view("all")
    with pytest.raises(StoreError, match="dict of filters"):
        a.save_view("x", "triage", "bucket=missed", "ann")
    with pytest.raises(StoreError, match="name must be non-empty"):
        a.save_view(" ", "triage", {}, "ann")
    a.close()
    b.close()


@pytest.mark.slow
def test_detect_writes_machine_tags_once(tree, tmp_path):
    db = str(tmp_path / "d.sqlite")
    args = ["detect", "--data", str(tree), "--artifacts", "glare,grass", "--no-cache",
            "--to-store", db]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "24 detection(s) added, 0 already stored" in r.output  # 12 photos x 2 detectors
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "0 detection(s) added, 24 already stored at this version" in r.output
    with TagStore(db, dataset=load_dataset(tree)) as s:
        det = s.detections()
        assert len(det) == 24 and set(det["detector"]) == {"detector:glare@1", "detector:grass@1"}
        assert s.current().empty
    r = CliRunner().invoke(main, ["tags", "--store", db, "--data", str(tree), "detections",
                                  "--all", "--format", "csv"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.count("detector:glare@1") == 12
    tags = ["tags", "--store", db, "--data", str(tree), "--annotator", "ann"]
    r = CliRunner().invoke(main, [*tags, "review", Q, "glare", "glare", "reject"])
    assert r.exit_code == 0 and f"{Q}: glare by glare rejected" in r.output, r.output
    with TagStore(db, dataset=load_dataset(tree)) as s:
        det = s.detections().set_index(["image", "artifact"])
        assert det.loc[(Q, "glare"), "review"] == "rejected"
    r = CliRunner().invoke(main, [*tags, "review", Q, "tongue", "tongue", "confirm"])
    assert r.exit_code != 0 and "no current detection of tongue" in r.output
    r = CliRunner().invoke(main, [*tags, "undo"])
    assert r.exit_code == 0 and f"undid review on image {Q}" in r.output
    r = CliRunner().invoke(main, ["tags", "--store", db, "views"])
    assert r.exit_code == 0 and "no saved views" in r.output
