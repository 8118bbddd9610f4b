"""`workbench shortcuts` on a tiny generated dataset and checkpoint: the tables it writes and a
second run that reads everything from the cache."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from click.testing import CliRunner
from PIL import Image

from explain.shortcuts import POST_COLUMNS
from workbench.cli import main


def _series(folder):
    from explain.models.adapter import build_model

    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = build_model("osnet_x0_25", 4)
    torch.save({"state_dict": model.state_dict(), "epoch": 5, "arch": "osnet_x0_25",
                "num_classes": 4, "height": 64, "width": 32},
               folder / "model.pth.tar-5")  # fmt: skip
    return folder


def _data(root):
    rng = np.random.default_rng(0)
    for split, posts in (("train", ("11", "12", "13")), ("gallery", ("21", "22"))):
        (root / split).mkdir(parents=True)
        for post in posts:
            for k in (1, 2, 3):
                img = np.zeros((64, 32, 3), np.uint8)
                img[4:60, 4:28] = rng.integers(60, 200, size=3)
                if post == "11":  # bright green grass along the bottom of every photo
                    img[50:64, 0:32] = (40, 200, 40)
                Image.fromarray(img).save(root / split / f"{post}_{k}.png")
    return root


def test_cli_writes_posts_and_photos_and_resumes_from_the_cache(tmp_path):
    data, series, cache = _data(tmp_path / "data"), _series(tmp_path / "ck"), tmp_path / "cache"
    out, photos = tmp_path / "posts.csv", tmp_path / "photos.csv"
    args = ["shortcuts", "--data", str(data), "--checkpoints", str(series), "--out", str(out),
            "--photos", str(photos), "--cache", str(cache), "--controls", "2",
            "--model-regions", "1"]  # fmt: skip
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    posts = pd.read_csv(out, dtype={"post_id": str})
    assert list(posts.columns) == list(POST_COLUMNS)
    assert sorted(zip(posts["split"], posts["post_id"], strict=True)) == [
        ("gallery", "21"),
        ("gallery", "22"),
        ("train", "11"),
        ("train", "12"),
        ("train", "13"),
    ]
    assert posts["score"].between(0, 1).all()
    evidence = [json.loads(e) for e in posts["evidence"]]
    assert all({"kind", "photos", "shares", "model"} <= set(e) for e in evidence)
    table = pd.read_csv(photos)
    assert len(table) == 15 and table["loo_similarity"].between(-1, 1).all()
    computed = int(first.output.split("epoch 5): ")[1].split(" region")[0])
    assert computed > 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "epoch 5): 0 region(s) computed" in again.output
    pd.testing.assert_frame_equal(posts, pd.read_csv(out, dtype={"post_id": str}))


def test_cli_refuses_ray_without_a_cache_and_an_unknown_epoch(tmp_path):
    data, series = _data(tmp_path / "data"), _series(tmp_path / "ck")
    base = ["shortcuts", "--data", str(data), "--checkpoints", str(series), "--out",
            str(tmp_path / "p.csv")]  # fmt: skip
    ray = CliRunner().invoke(main, [*base, "--engine", "ray", "--no-cache"])
    assert ray.exit_code == 2 and "drop --no-cache" in ray.output
    store = CliRunner().invoke(main, [*base, "--store", str(tmp_path / "typo.sqlite")])
    assert store.exit_code == 2 and "no tag store at" in store.output
    assert not (tmp_path / "typo.sqlite").exists()
    epoch = CliRunner().invoke(main, [*base, "--epoch", "7"])
    assert epoch.exit_code == 2 and "no checkpoint for epoch 7; the series has 5" in epoch.output


def test_cli_takes_the_annotators_regions_from_the_store(tmp_path):
    from curation.dataset import load_folder
    from curation.store import TagStore

    data, series = _data(tmp_path / "data"), _series(tmp_path / "ck")
    store = tmp_path / "tags.sqlite"
    box = [{"artifact": "tongue", "kind": "box", "points": [[8, 8], [20, 20]]}]
    with TagStore(store, dataset=load_folder(data)) as tags:
        for k in (1, 2, 3):
            tags.set_artifacts(f"train/13_{k}.png", ["tongue"], "ann", regions=box)
    regions = tmp_path / "regions.csv"
    args = ["shortcuts", "--data", str(data), "--checkpoints", str(series), "--out",
            str(tmp_path / "p.csv"), "--regions", str(regions), "--store", str(store),
            "--model-regions", "0", "--controls", "2", "--no-cache"]  # fmt: skip
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 0, run.output
    table = pd.read_csv(regions, dtype={"post_id": str})
    drawn = table[table["source"].str.contains("annotator")]
    assert sorted(drawn["image"]) == [f"train/13_{k}.png" for k in (1, 2, 3)]
    assert (drawn["kind"] == "tongue").all()
    posts = pd.read_csv(tmp_path / "p.csv", dtype={"post_id": str}).set_index("post_id")
    assert posts.loc["13", "data_kind"] == "tongue" and posts.loc["13", "data_score"] == 1.0
