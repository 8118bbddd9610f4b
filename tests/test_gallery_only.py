"""Datasets without a train split or without queries: search works on a gallery alone, and
curation says what it could do instead of suggesting a training run that fails."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from curation.coverage import rule_notes, training_note
from curation.dataset import load_folder
from curation.rules.apply import RuleSpec
from explain.heatmaps.explorer import gallery_self_queries
from explain.retrieval.confidence import fit_confidence
from explain.retrieval.lookup import embed_photos, nearest_posts
from tests.conftest import write_image
from tests.test_embeddings import Counting, loaded


def _gallery_only(root: Path) -> Path:
    for post in range(6):
        for photo in (1, 2, 3):
            write_image(root / "gallery" / f"{100 + post}_{photo}.jpg", seed=post * 10 + photo)
    return root


def test_search_functions_need_no_queries(tmp_path: Path):
    ds = load_folder(_gallery_only(tmp_path / "d"))
    assert set(ds.table["split"]) == {"gallery"}
    member = loaded(Counting())
    self_search = gallery_self_queries(ds, member)  # calibration data without a query split
    assert len(self_search) == 18 and self_search["in_gallery"].all()
    assert not (self_search["query"] == self_search["top1_image"]).any()
    gallery = ds.split("gallery")
    feats = embed_photos(member, [ds.path(i) for i in gallery["image"]])
    found = nearest_posts(feats[0], feats, gallery, posts=3)
    assert found["post_id"].iloc[0] == "100" and found["similarity"].iloc[0] == pytest.approx(1.0)
    assert len(found) == 3 and found["post_id"].is_unique
    conf = fit_confidence(self_search)
    p = conf.predict([0.99], [0.2])
    assert 0.0 <= float(p[0]) <= 1.0


def test_rules_and_export_say_what_they_could_do(tmp_path: Path):
    root = _gallery_only(tmp_path / "d")
    write_image(root / "query" / "100_9.jpg", seed=99)
    ds = load_folder(root)
    notes = rule_notes(ds.table, [RuleSpec("homogeneous_artifact"), RuleSpec("duplicates")])
    assert len(notes) == 2
    assert notes[0].startswith("homogeneous_artifact acts on the train split(s), which this "
                               "dataset does not have (1 query, 18 gallery)")  # fmt: skip
    assert "drops a query's copies from the gallery" in notes[1]
    note = training_note(ds.table)
    assert note is not None and note.startswith("nothing to train on: the export has no train")
    few = pd.DataFrame({"split": ["train"] * 6, "post_id": list("aabbcc")})
    assert "3 train post(s)" in training_note(few) and "--batch-size 12" in training_note(few)
    enough = pd.DataFrame({"split": ["train"] * 16, "post_id": [str(i // 2) for i in range(16)]})
    assert training_note(enough) is None

    from workbench.cli import main

    out, dups = tmp_path / "export", tmp_path / "dups.csv"
    found = CliRunner().invoke(
        main, ["duplicates", "--data", str(root), "--out", str(dups), "--no-cache"]
    )
    assert found.exit_code == 0, found.output
    result = CliRunner().invoke(
        main, ["export", "--data", str(root), "--rules", "duplicates", "--duplicates", str(dups),
               "--out", str(out), "--no-buckets"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "workbench train --data" not in result.output
    assert "nothing to train on" in result.output
    assert "note: " in result.output and "which this dataset does not have" in result.output


def test_training_without_a_train_split_says_so(tmp_path: Path):
    from workbench.recipe import Recipe
    from workbench.train import TrainingError, train

    ds = load_folder(_gallery_only(tmp_path / "d"))
    with pytest.raises(TrainingError, match="no train photos \\(only query/gallery\\): nothing"):
        train(ds, tmp_path / "series", Recipe())
    assert not (tmp_path / "series").exists() or not any((tmp_path / "series").iterdir())
