"""Artifact rules read annotators' tags, detections (machine tags), or both: hand-made cases."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.rules import apply_rules
from curation.rules.catalog import RULES, help_text
from curation.rules.sources import SOURCE_LABELS, artifact_table, counted


class _Data:
    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table


PHOTOS = {"1": 3, "2": 2, "3": 2}
TABLE = pd.DataFrame(
    [{"image": f"train/{p}_{i}.jpg", "post_id": p, "photo": i, "split": "train"}
     for p, n in PHOTOS.items() for i in range(1, n + 1)]
)  # fmt: skip
TAGS = pd.DataFrame({
    "image": ["train/1_1.jpg", "train/1_2.jpg"], "bucket": [None, None],
    "artifacts": ["tongue", "tongue"], "flags": ["", ""], "annotator": ["ann", "ann"],
})  # fmt: skip


def _det(image, artifact, score, review="unreviewed", threshold=0.5, by=None):
    return {"image": image, "artifact": artifact, "score": score, "threshold": threshold,
            "detected": score >= threshold, "detector": f"detector:{artifact}@1",
            "review": review, "reviewed_by": by}  # fmt: skip


DETS = pd.DataFrame([
    _det("train/1_3.jpg", "tongue", 0.9),
    _det("train/2_1.jpg", "hands", 0.8),
    _det("train/2_2.jpg", "hands", 0.6),
    _det("train/3_1.jpg", "grass", 0.9),
    _det("train/3_2.jpg", "grass", 0.95, review="rejected", by="bob"),
    _det("train/1_1.jpg", "glare", 0.3),  # below its threshold
])  # fmt: skip


def _removed(rules: str, detections=DETS, tags=TAGS) -> dict[str, set[str]]:
    _, removals = apply_rules(_Data(TABLE), rules, tags=tags, detections=detections)
    out: dict[str, set[str]] = {}
    for post, cause in zip(removals["post_id"], removals["cause"], strict=True):
        out.setdefault(post, set()).add(cause)
    return out


def test_homogeneous_artifact_per_source():
    h = "homogeneous_artifact:threshold=0.8"
    assert _removed(f"{h}:source=tags") == {}  # tongue in 2 of 3 photos of post 1
    assert _removed(f"{h}:source=detected") == {"2": {"hands"}}  # grass: one rejected
    assert _removed(f"{h}:source=both") == {"1": {"tongue"}, "2": {"hands"}}
    assert _removed(f"{h}:source=detected:min_score=0.7") == {}  # 0.6 no longer counts
    assert _removed(f"{h}:source=detected:confirmed_only=true") == {}


def test_confirmed_detections_always_count_and_rejected_never():
    dets = DETS.copy()
    dets.loc[dets["image"] == "train/2_2.jpg", ["score", "detected", "review"]] = [
        0.2,
        False,
        "confirmed",
    ]  # a person saw the hands the detector scored low
    dets.loc[dets["image"] == "train/2_1.jpg", "review"] = "confirmed"
    rules = "homogeneous_artifact:threshold=1:source=detected:confirmed_only=true"
    assert _removed(rules, detections=dets) == {"2": {"hands"}}
    assert list(counted(DETS)["image"]) == [
        "train/1_3.jpg",
        "train/2_1.jpg",
        "train/2_2.jpg",
        "train/3_1.jpg",
    ]


def test_exclude_by_tags_per_source():
    e = "exclude_by_tags:flags=:artifacts=tongue+hands"
    _, tags_only = apply_rules(_Data(TABLE), f"{e}:source=tags", tags=TAGS, detections=DETS)
    assert sorted(tags_only["image"]) == ["train/1_1.jpg", "train/1_2.jpg"]
    _, det = apply_rules(_Data(TABLE), f"{e}:source=detected", tags=TAGS, detections=DETS)
    assert sorted(det["image"]) == ["train/1_3.jpg", "train/2_1.jpg", "train/2_2.jpg"]
    reason = det.set_index("image").loc["train/2_1.jpg", "reason"]
    assert reason == "train/2_1.jpg is detected as hands (detector:hands@1, score 0.80)"
    _, both = apply_rules(_Data(TABLE), f"{e}:source=both", tags=TAGS, detections=DETS)
    assert len(both) == 5 and set(both["cause"]) == {"artifact:tongue", "artifact:hands"}


def test_missing_inputs_say_what_to_pass():
    with pytest.raises(ValueError, match=r"source=detected reads the store's detections"):
        apply_rules(_Data(TABLE), "homogeneous_artifact:source=detected", tags=TAGS)
    with pytest.raises(ValueError, match=r"needs the manifest's ground-truth"):
        apply_rules(_Data(TABLE), "homogeneous_artifact:source=manifest", tags=TAGS)
    with pytest.raises(ValueError, match=r"exclude_by_tags:source=both needs the store's det"):
        apply_rules(_Data(TABLE), "exclude_by_tags:source=both:artifacts=hands", tags=TAGS)
    with pytest.raises(ValueError, match=r"source must be one of tags, detected, both, not"):
        apply_rules(_Data(TABLE), "exclude_by_tags:source=manifest", tags=TAGS)
    with pytest.raises(ValueError, match="lack column"):
        artifact_table(TABLE, None, DETS[["image"]], "detected", rule="r")


def test_the_catalog_labels_every_source_for_people():
    for name in ("homogeneous_artifact", "exclude_by_tags"):
        param = next(p for p in RULES[name].params if p.name == "source")
        assert [c for c, _ in param.choice_labels] == list(param.choices)
        assert all(label == SOURCE_LABELS[c] for c, label in param.choice_labels)
    assert "detected (detections (machine tags) above the score)" in help_text()
    truth = next(p for p in RULES["homogeneous_artifact"].params if p.name == "source")
    assert truth.truth_default == "tags+manifest"
