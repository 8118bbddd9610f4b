"""Curation rules on hand-made cases with exact expected removals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curation.dataset import Dataset, load_dataset
from curation.quality import issues, measure
from curation.rules import (
    REMOVAL_COLUMNS,
    RuleSpec,
    apply_rules,
    duplicates,
    exclude_by_tags,
    homogeneous_artifact,
    one_animal_per_post,
    parse_rules,
    quality_flags,
    summarise,
)


def _table(rows: list[tuple[str, str, int, str, str]]) -> pd.DataFrame:
    """(image, post_id, photo, split, artifacts) rows -> manifest table."""
    df = pd.DataFrame(rows, columns=["image", "post_id", "photo", "split", "artifacts"])
    return df.assign(camid=df["photo"])


# train posts: 1 tongue in 4/4, 2 hands in 3/4, 3 clean, 4 a single glare photo,
# 5 grass in 2/2 and glare in 1/2; a query post with tongue in every photo.
TABLE = _table(
    [
        ("train/1_1.jpg", "1", 1, "train", "tongue"),
        ("train/1_2.jpg", "1", 2, "train", "tongue;glare"),
        ("train/1_3.jpg", "1", 3, "train", "tongue"),
        ("train/1_4.jpg", "1", 4, "train", "tongue"),
        ("train/2_1.jpg", "2", 1, "train", "hands"),
        ("train/2_2.jpg", "2", 2, "train", "hands"),
        ("train/2_3.jpg", "2", 3, "train", ""),
        ("train/2_4.jpg", "2", 4, "train", "hands"),
        ("train/3_1.jpg", "3", 1, "train", ""),
        ("train/3_2.jpg", "3", 2, "train", "glare"),
        ("train/4_1.jpg", "4", 1, "train", "glare"),
        ("train/5_1.jpg", "5", 1, "train", "grass;glare"),
        ("train/5_2.jpg", "5", 2, "train", "grass"),
        ("query/9_1.jpg", "9", 1, "query", "tongue"),
        ("gallery/9_2.jpg", "9", 2, "gallery", "tongue"),
    ]
)


def _images(removals: pd.DataFrame) -> list[str]:
    return sorted(set(removals["image"]))


def test_homogeneous_artifact_exact_posts():
    out = homogeneous_artifact(TABLE, threshold=0.8)
    assert list(out.columns) == list(REMOVAL_COLUMNS)
    assert sorted(set(out["post_id"])) == ["1", "5"]
    assert _images(out) == [
        "train/1_1.jpg", "train/1_2.jpg", "train/1_3.jpg", "train/1_4.jpg",
        "train/5_1.jpg", "train/5_2.jpg",
    ]  # fmt: skip
    assert set(out.loc[out["post_id"] == "1", "cause"]) == {"tongue"}
    assert out["reason"].iloc[0] == "post 1: tongue in 4/4 photos (100%) (threshold 80%)"
    # 3/4 hands reaches 75%; post 4 has a single photo; the query post is not in train
    assert sorted(set(homogeneous_artifact(TABLE, threshold=0.75)["post_id"])) == ["1", "2", "5"]
    assert sorted(set(homogeneous_artifact(TABLE, threshold=0.5)["post_id"])) == [
        "1",
        "2",
        "3",
        "5",
    ]
    one = homogeneous_artifact(TABLE, threshold=0.5, min_photos=1)
    assert sorted(set(one["post_id"])) == ["1", "2", "3", "4", "5"]
    multi = homogeneous_artifact(TABLE, threshold=0.5)
    assert set(multi.loc[multi["post_id"] == "5", "cause"]) == {"glare+grass"}
    tongue_only = homogeneous_artifact(TABLE, threshold=0.8, artifacts=["tongue"])
    assert sorted(set(tongue_only["post_id"])) == ["1"]
    everywhere = homogeneous_artifact(TABLE, threshold=1.0, splits=("train", "query", "gallery"))
    assert sorted(set(everywhere["post_id"])) == ["1", "5", "9"]


def test_homogeneous_artifact_from_store_tags():
    table = TABLE.drop(columns="artifacts")
    tags = pd.DataFrame(
        {
            "image": ["train/3_1.jpg", "train/3_2.jpg", "train/2_1.jpg"],
            "artifacts": ["pose", "pose;tongue", ["hands"]],
        }
    )
    out = homogeneous_artifact(table, tags, threshold=1.0)
    assert _images(out) == ["train/3_1.jpg", "train/3_2.jpg"]
    assert set(out["cause"]) == {"pose"}
    with pytest.raises(ValueError, match="no 'artifacts' column"):
        homogeneous_artifact(table)
    stray = pd.concat([tags, pd.DataFrame({"image": ["train/77_1.jpg"], "artifacts": ["pose"]})])
    with pytest.raises(ValueError, match=r"1 tagged image\(s\) are not in the dataset: train/77_1"):
        homogeneous_artifact(table, stray)
    assert len(homogeneous_artifact(table, stray, threshold=1.0, unknown="ignore")) == 2
    with pytest.raises(ValueError, match="threshold"):
        homogeneous_artifact(TABLE, threshold=0)


DUP_TABLE = _table(
    [
        ("train/1_1.jpg", "1", 1, "train", ""),
        ("train/1_2.jpg", "1", 2, "train", ""),
        ("train/1_3.jpg", "1", 3, "train", ""),
        ("train/2_1.jpg", "2", 1, "train", ""),
        ("train/2_2.jpg", "2", 2, "train", ""),
        ("train/3_1.jpg", "3", 1, "train", ""),
        ("train/3_2.jpg", "3", 2, "train", ""),
        ("train/3_3.jpg", "3", 3, "train", ""),
        ("train/4_1.jpg", "4", 1, "train", ""),
        ("train/4_2.jpg", "4", 2, "train", ""),
        ("train/5_1.jpg", "5", 1, "train", ""),
        ("train/5_2.jpg", "5", 2, "train", ""),
        ("query/8_1.jpg", "8", 1, "query", ""),
        ("gallery/8_2.jpg", "8", 2, "gallery", ""),
        ("gallery/9_1.jpg", "9", 1, "gallery", ""),
        ("gallery/10_1.jpg", "10", 1, "gallery", ""),
    ]
)


def _dups(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(group, image, kind, scope) rows -> duplicate table (post and split from the image)."""
    out = []
    for group, image, kind, scope in rows:
        rec = DUP_TABLE.set_index("image").loc[image]
        dist, sim = (0, 1.0) if kind == "exact" else (4, 0.93)
        out.append((group, image, rec["post_id"], rec["split"], kind, scope, dist, sim))
    cols = ["group", "image", "post_id", "split", "kind", "scope", "hash_distance", "similarity"]
    return pd.DataFrame(out, columns=cols)


def test_duplicates_each_scope():
    dups = _dups(
        [
            # post 1 photos 3 and 1 are the same photo: keep photo 1
            ("g1", "train/1_3.jpg", "exact", "intra-post"),
            ("g1", "train/1_1.jpg", "exact", "intra-post"),
            # post 2 (2 photos) reposts post 3 (3 photos): drop post 2
            ("g2", "train/2_1.jpg", "near", "inter-post"),
            ("g2", "train/3_2.jpg", "near", "inter-post"),
            # post 4 photo 2 is also in the gallery: leakage, drop train post 4
            ("g3", "train/4_2.jpg", "exact", "train-test"),
            ("g3", "gallery/9_1.jpg", "exact", "train-test"),
            # two gallery posts repost each other: not touched (train only by default)
            ("g4", "gallery/9_1.jpg", "near", "inter-post"),
            ("g4", "gallery/10_1.jpg", "near", "inter-post"),
        ]
    )
    out = duplicates(dups, DUP_TABLE)
    assert _images(out) == [
        "train/1_3.jpg", "train/2_1.jpg", "train/2_2.jpg", "train/4_1.jpg", "train/4_2.jpg",
    ]  # fmt: skip
    by_image = dict(zip(out["image"], out["cause"], strict=True))
    assert by_image["train/1_3.jpg"] == "intra-post"
    assert by_image["train/2_2.jpg"] == "inter-post"
    assert by_image["train/4_1.jpg"] == "train-test"
    reason = out.set_index("image").loc["train/2_1.jpg", "reason"]
    assert "kept post 3 (3 photos) over post 2 (2 photos)" in reason
    assert "near duplicate, hash distance 4, similarity 0.93" in reason
    only_images = duplicates(dups, DUP_TABLE, leakage="image")
    assert "train/4_1.jpg" not in set(only_images["image"])
    assert "train/4_2.jpg" in set(only_images["image"])
    wide = duplicates(dups, DUP_TABLE, splits=("train", "gallery"))
    # one photo each: the tie keeps the post first in sort order ("10" < "9")
    assert _images(wide.loc[wide["split"] == "gallery"]) == ["gallery/9_1.jpg"]


def test_duplicates_exact_only():
    dups = _dups(
        [
            ("g1", "train/1_1.jpg", "exact", "intra-post"),
            ("g1", "train/1_3.jpg", "exact", "intra-post"),
            ("g1", "train/1_2.jpg", "near", "intra-post"),
            ("g2", "train/2_1.jpg", "near", "inter-post"),
            ("g2", "train/3_2.jpg", "near", "inter-post"),
        ]
    )
    assert _images(duplicates(dups, DUP_TABLE)) == [
        "train/1_2.jpg", "train/1_3.jpg", "train/2_1.jpg", "train/2_2.jpg",
    ]  # fmt: skip
    assert _images(duplicates(dups, DUP_TABLE, kinds=("exact",))) == ["train/1_3.jpg"]
    with pytest.raises(ValueError, match="kinds"):
        duplicates(dups, DUP_TABLE, kinds=("fuzzy",))


def test_duplicates_ties_and_bad_input():
    dups = _dups([("g", "train/4_1.jpg", "near", "inter-post"),
                  ("g", "train/5_1.jpg", "near", "inter-post")])  # fmt: skip
    assert sorted(set(duplicates(dups, DUP_TABLE)["post_id"])) == ["5"]  # tie: keep post 4
    with pytest.raises(ValueError, match="lacks column.*scope"):
        duplicates(dups.drop(columns="scope"), DUP_TABLE)
    with pytest.raises(ValueError, match="unknown scope"):
        duplicates(dups.assign(scope="cross"), DUP_TABLE)
    stray = pd.concat([dups, dups.assign(image="train/99_1.jpg", group="h")])
    with pytest.raises(ValueError, match="duplicate image.*train/99_1.jpg"):
        duplicates(stray, DUP_TABLE)


def test_one_animal_per_post():
    post_flags = pd.DataFrame(
        {"post_id": ["2", "3", "8"], "flags": ["multiple-animals", "exclude", "multiple-animals"],
         "annotator": ["ann", "ann", "bob"]}
    )  # fmt: skip
    image_flags = pd.DataFrame({"image": ["train/5_2.jpg"], "flags": ["multiple-animals"]})
    out = one_animal_per_post(DUP_TABLE, post_flags, image_flags=image_flags)
    assert _images(out) == ["train/2_1.jpg", "train/2_2.jpg", "train/5_2.jpg"]
    assert out["reason"].iloc[0] == "post 2 is flagged multiple-animals (by ann)"
    wide = one_animal_per_post(DUP_TABLE, post_flags, splits=("train", "query", "gallery"))
    assert _images(wide) == ["gallery/8_2.jpg", "query/8_1.jpg", "train/2_1.jpg", "train/2_2.jpg"]
    with pytest.raises(ValueError, match="flagged post.*77"):
        one_animal_per_post(DUP_TABLE, pd.DataFrame({"post_id": ["77"], "flags": ["exclude"]}))


def test_exclude_by_tags():
    tags = pd.DataFrame(
        {
            "image": ["train/1_1.jpg", "train/1_2.jpg", "train/3_1.jpg", "query/8_1.jpg"],
            "bucket": ["spurious", None, "worked", "spurious"],
            "artifacts": ["", "collage", "collage", ""],
            "flags": ["", "", "exclude", ""],
            "annotator": ["ann", "bob", "ann", "ann"],
        }
    )
    posts = pd.DataFrame({"post_id": ["4"], "flags": ["exclude"], "annotator": ["bob"]})
    out = exclude_by_tags(DUP_TABLE, tags, buckets=["spurious"], artifacts=["collage"],
                          post_flags=posts)  # fmt: skip
    assert _images(out) == [
        "train/1_1.jpg", "train/1_2.jpg", "train/3_1.jpg", "train/4_1.jpg", "train/4_2.jpg",
    ]  # fmt: skip
    causes = out.groupby("image")["cause"].apply(sorted).to_dict()
    assert causes["train/3_1.jpg"] == ["artifact:collage", "flag:exclude"]
    assert causes["train/1_1.jpg"] == ["bucket:spurious"]
    ann = exclude_by_tags(DUP_TABLE, tags, buckets=["spurious"], artifacts=["collage"],
                          post_flags=posts, annotators=["ann"])  # fmt: skip
    assert _images(ann) == ["train/1_1.jpg", "train/3_1.jpg"]
    queries = exclude_by_tags(DUP_TABLE, tags, buckets=["spurious"], flags=(),
                              splits=("query",))  # fmt: skip
    assert _images(queries) == ["query/8_1.jpg"]
    with pytest.raises(ValueError, match="at least one"):
        exclude_by_tags(DUP_TABLE, tags, flags=())


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def _animal(h: int = 128, w: int = 64, seed: int = 0) -> np.ndarray:
    """A textured blob on black: a segmented animal with detail."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((h, w, 3))
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - h / 2) / (h * 0.4)) ** 2 + ((xx - w / 2) / (w * 0.4)) ** 2 < 1
    arr[inside] = rng.integers(60, 220, size=(int(inside.sum()), 3))
    return arr


def test_quality_measures_and_flags(tmp_path):
    sharp = _animal()
    dark = sharp * 0.15
    blown = sharp.copy()
    blown[20:100, 10:54] = 255
    blurry = np.asarray(Image.fromarray(sharp.astype(np.uint8)).resize((8, 16)).resize((64, 128)))
    tiny = _animal(40, 20)
    files = {"sharp": sharp, "dark": dark, "blown": blown, "blurry": blurry, "tiny": tiny}
    rows = []
    for i, arr in enumerate(files.values()):
        _png(tmp_path / "train" / f"{i}_1.png", arr)
        rows.append((f"train/{i}_1.png", str(i), 1, "train", ""))
    ds = Dataset(root=tmp_path, table=_table(rows))
    m = measure(Image.open(tmp_path / "train/0_1.png"))
    assert m["width"] == 64 and m["height"] == 128 and 0.4 < m["foreground"] < 0.6
    kept, removals = apply_rules(ds, "quality_flags")
    got = dict(zip(removals["image"], removals["cause"], strict=True))
    assert got == {
        "train/1_1.png": "too-dark",
        "train/2_1.png": "glare-blown",
        "train/3_1.png": "blurry",
        "train/4_1.png": "tiny",
    }
    assert list(kept["image"]) == ["train/0_1.png"]
    # thresholds are parameters; a hand-made measure table needs no pixels
    q = pd.DataFrame([{"image": "train/0_1.png", "width": 64, "height": 128, "foreground": 0.01,
                       "brightness": 200.0, "blown": 0.0, "blur": 500.0}])  # fmt: skip
    out = quality_flags(ds.table, q)
    assert list(out["cause"]) == ["tiny"] and "covers 1.0% of the frame" in out["reason"][0]
    assert quality_flags(ds.table, q, min_foreground=0.0).empty
    with pytest.raises(ValueError, match="lacks column"):
        issues(q.drop(columns="blur"))


def test_quality_on_real_photos_flags_few(real_pets):
    ds = load_dataset(real_pets, check="none")
    from curation.quality import measure_images

    q = measure_images(ds)
    assert len(q) == len(ds.table)
    flagged = issues(q)
    assert len(set(flagged["image"])) <= 0.05 * len(q)  # real, decent photos mostly pass


def test_parse_rules_syntax():
    specs = parse_rules(
        "homogeneous_artifact:threshold=0.8:artifacts=tongue+hands,duplicates:leakage=image,"
        "exclude_by_tags:buckets=spurious:splits=train+query:posts=false"
    )
    want = {"threshold": 0.8, "artifacts": ("tongue", "hands")}
    assert specs[0] == RuleSpec("homogeneous_artifact", want)
    assert specs[1] == RuleSpec("duplicates", {"leakage": "image"})
    assert specs[2].params == {"buckets": ("spurious",), "splits": ("train", "query"),
                               "posts": False}  # fmt: skip
    eff = specs[0].effective()
    assert eff["min_photos"] == 2 and eff["source"] == "tags" and eff["splits"] == ["train"]
    for bad, message in [
        ("nonsense", "unknown rule 'nonsense'"),
        ("duplicates:threshold=2", "unknown parameter 'threshold'"),
        ("homogeneous_artifact:threshold=high", "not a valid float"),
        ("homogeneous_artifact:0.8", "must be key=value"),
        ("duplicates,duplicates", "given twice"),
        ("", "no rules"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_rules(bad)


def test_apply_rules_combines_and_reports():
    ds = Dataset(root=Path("."), table=TABLE)
    tags = pd.DataFrame(
        {"image": ["train/3_1.jpg"], "bucket": ["spurious"], "artifacts": [""], "flags": [""],
         "annotator": ["ann"]}
    )  # fmt: skip
    posts = pd.DataFrame({"post_id": ["1"], "flags": ["multiple-animals"]})
    kept, removals = apply_rules(
        ds,
        "homogeneous_artifact:source=manifest,one_animal_per_post,exclude_by_tags:buckets=spurious",
        tags=tags,
        post_flags=posts,
    )
    assert len(kept) + removals["image"].nunique() == len(TABLE)
    assert set(kept["image"]) == set(TABLE["image"]) - set(removals["image"])
    assert list(kept.columns) == list(TABLE.columns)
    summary = summarise(removals)
    assert summary.to_dict("records") == [
        {"rule": "exclude_by_tags", "cause": "bucket:spurious", "images": 1, "posts": 1},
        {"rule": "homogeneous_artifact", "cause": "grass", "images": 2, "posts": 1},
        {"rule": "homogeneous_artifact", "cause": "tongue", "images": 4, "posts": 1},
        {"rule": "one_animal_per_post", "cause": "post-flag", "images": 4, "posts": 1},
    ]
    assert len(removals) == 11 and removals["image"].nunique() == 7  # post 1 removed twice
    with pytest.raises(ValueError, match="reads the store's artifact tags"):
        apply_rules(ds, "homogeneous_artifact")
    with pytest.raises(ValueError, match="--duplicates"):
        apply_rules(ds, "duplicates")
    with pytest.raises(ValueError, match="post flags"):
        apply_rules(ds, "one_animal_per_post")


def _synth():
    if importlib.util.find_spec("workbench.synth") is None:
        pytest.skip("workbench.synth is not in the tree yet (the sample generator)")
    try:
        from workbench.synth import SynthConfig, generate
    except ImportError as exc:
        pytest.skip(f"workbench.synth cannot be imported yet ({exc})")
    return SynthConfig, generate


@pytest.mark.slow
def test_homogeneous_rule_recovers_planted_posts(tmp_path):
    SynthConfig, generate = _synth()
    config = SynthConfig(seed=3, n_train_ids=24, n_test_ids=6, counterfactual=False)
    generate(tmp_path / "pets", config)
    ds = load_dataset(tmp_path / "pets", check="none")
    train = ds.split("train")
    planted = set(train.loc[train["polluted"], "post_id"])
    assert planted, "the sample must plant some polluted posts for this test to mean anything"
    out = homogeneous_artifact(ds.table)
    assert set(out["post_id"]) == planted
    truth = train[train["polluted"]].groupby("post_id")["homogeneous_artifact"].first().to_dict()
    found = out.groupby("post_id")["cause"].first().to_dict()
    assert all(truth[p] in found[p].split("+") for p in planted)
