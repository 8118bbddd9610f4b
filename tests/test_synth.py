"""The sample-data generator: determinism, layout, manifest, and masks that match the pixels."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import distance_transform_edt

from workbench.synth import (
    ARTIFACTS,
    COLUMNS,
    MARKER,
    SynthConfig,
    contact_sheet,
    generate,
    is_sample_dataset,
    plan,
)
from workbench.synth.render import render

# ten train posts with half polluted: one polluted post per artifact kind, each with a twin
FULL = SynthConfig(
    seed=3,
    n_train_ids=10,
    n_test_ids=6,
    n_gallery_distractors=4,
    n_query_without_gallery=1,
    photos_min=2,
    photos_max=3,
    polluted_fraction=0.5,
    mismatch_fraction=0.5,
    decoy_fraction=1.0,
)
TINY = SynthConfig(
    seed=5,
    n_train_ids=4,
    n_test_ids=2,
    n_gallery_distractors=1,
    n_query_without_gallery=1,
    photos_min=2,
    photos_max=3,
    height=64,
    width=32,
    polluted_fraction=0.5,
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("synth") / "pets"
    return root, generate(root, FULL)


def _pixels(root: Path, rel: str) -> np.ndarray:
    with Image.open(root / rel) as img:
        return np.asarray(img).astype(np.int16)


def _mask(root: Path, rel: str) -> np.ndarray:
    return _pixels(root, rel) > 127


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_manifest_columns_types_and_order(sample):
    root, table = sample
    assert list(table.columns) == list(COLUMNS)
    assert table["photo"].dtype == np.int64 and table["camid"].dtype == np.int64
    assert table["polluted"].dtype == bool
    assert (table["camid"] == table["photo"]).all()
    assert set(table["split"]) == {"train", "query", "gallery"}
    assert set(table["species"]) <= {"dog", "cat"}
    assert (table["look"] == "segmented").all()
    assert table["post_id"].str.fullmatch(r"\d{5}").all()
    order = table["split"].map({"train": 0, "query": 1, "gallery": 2})
    keys = list(zip(order, table["post_id"], table["photo"], strict=True))
    assert keys == sorted(keys)
    assert (
        table["image"]
        == table["split"] + "/" + table["post_id"] + "_" + table["photo"].astype(str) + ".jpg"
    ).all()
    on_disk = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(on_disk.columns) == list(COLUMNS)
    assert on_disk["image"].tolist() == table["image"].tolist()
    assert on_disk["polluted"].isin(["True", "False"]).all()
    for kind in ARTIFACTS:
        has = table["artifacts"].str.split(";").apply(lambda names, k=kind: k in names)
        assert ((table[f"mask_{kind}"] != "") == has).all()
    assert ((table["counterfactual"] != "") == (table["artifacts"] != "")).all()
    for col in ("image", "animal_mask", "counterfactual", *(f"mask_{a}" for a in ARTIFACTS)):
        for rel in table.loc[table[col] != "", col]:
            assert (root / rel).is_file(), rel
    assert is_sample_dataset(root)


def test_images_are_rgb_256x128_and_masks_binary(sample):
    root, table = sample
    for rel in [*table["image"], *table.loc[table["counterfactual"] != "", "counterfactual"]]:
        with Image.open(root / rel) as img:
            assert img.format == "JPEG" and img.mode == "RGB" and img.size == (128, 256)
    mask_cols = ["animal_mask", *(f"mask_{a}" for a in ARTIFACTS)]
    for rel in table[mask_cols].to_numpy().ravel():
        if rel:
            with Image.open(root / rel) as img:
                assert img.mode == "L" and img.size == (128, 256)
                assert set(np.unique(np.asarray(img))) <= {0, 255}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = generate(tmp_path / "a", TINY)
    b = generate(tmp_path / "b", TINY)
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert files_a == files_b
    assert any(k.startswith("counterfactual/") for k in files_a)
    pd.testing.assert_frame_equal(a, b)
    c = generate(tmp_path / "c", SynthConfig(**{**TINY.__dict__, "seed": 6}))
    files_c = _files(tmp_path / "c")
    assert a["post_id"].tolist() != c["post_id"].tolist()
    images_a = sorted(v for k, v in files_a.items() if k.startswith("train/"))
    images_c = sorted(v for k, v in files_c.items() if k.startswith("train/"))
    assert not set(images_a) & set(images_c)


def test_photo_does_not_depend_on_render_order():
    photos = plan(TINY)[:3]

    def draw(p):
        return render(
            p.identity, list(p.artifacts), "segmented", 64, 32, (5, int(p.post_id), p.photo)
        )

    forward = [draw(p).image for p in photos]
    backward = [draw(p).image for p in reversed(photos)][::-1]
    assert all(np.array_equal(f, b) for f, b in zip(forward, backward, strict=True))
    assert not np.array_equal(forward[0], forward[1])


def test_artifact_masks_line_up_with_the_drawn_pixels(sample):
    root, table = sample
    rows = table[table["artifacts"] != ""]
    assert set(";".join(rows["artifacts"]).split(";")) == set(ARTIFACTS)
    for _, row in rows.iterrows():
        diff = np.abs(_pixels(root, row["image"]) - _pixels(root, row["counterfactual"])).max(
            axis=2
        )
        union = np.zeros(diff.shape, bool)
        for kind in row["artifacts"].split(";"):
            mask = _mask(root, row[f"mask_{kind}"])
            assert mask.sum() >= 20, (row["image"], kind)
            inside = diff[mask]
            assert inside.mean() > 15, (row["image"], kind, inside.mean())
            assert (inside > 6).mean() > 0.5, (row["image"], kind)
            union |= mask
        far = distance_transform_edt(~union)
        # blur reaches ~2 px and JPEG ringing stays inside the 8x8 blocks the artifact touches
        assert (diff[far > 4] > 10).mean() < 0.01, row["image"]
        assert diff[far > 12].max() <= 12, row["image"]


def test_animal_mask_covers_the_animal(sample):
    root, table = sample
    for _, row in table.iterrows():
        animal = _mask(root, row["animal_mask"])
        assert 0.04 < animal.mean() < 0.98, row["image"]
        for kind in ("tongue", "hands", "grass", "collar"):
            if row[f"mask_{kind}"]:
                assert not (animal & _mask(root, row[f"mask_{kind}"])).any()
        if row["mask_glare"]:  # a glare lies on the fur
            glare = _mask(root, row["mask_glare"])
            assert (animal[glare]).mean() > 0.9


def test_segmented_look_is_black_outside_the_masks(sample):
    root, table = sample
    for _, row in table.iterrows():
        union = _mask(root, row["animal_mask"])
        for kind in filter(None, row["artifacts"].split(";")):
            union |= _mask(root, row[f"mask_{kind}"])
        far = distance_transform_edt(~union) > 3
        value = _pixels(root, row["image"]).max(axis=2)[far]
        assert (value > 12).mean() < 0.005, row["image"]
        assert value.mean() < 1.0, row["image"]


def test_polluted_posts_carry_their_artifact_in_every_photo(sample):
    _, table = sample
    train = table[table["split"] == "train"]
    assert not table.loc[table["split"] != "train", "polluted"].any()
    per_post = train.groupby("post_id")
    kinds = per_post["homogeneous_artifact"].first()
    assert sorted(kinds[kinds != ""]) == sorted(ARTIFACTS)
    for post, photos in per_post:
        present = [set(a.split(";")) - {""} for a in photos["artifacts"]]
        every = set.intersection(*present)
        if photos["polluted"].iloc[0]:
            assert photos["polluted"].all()
            assert photos["homogeneous_artifact"].iloc[0] in every, post
        else:
            assert not every, post
            assert (photos["homogeneous_artifact"] == "").all()


def test_queries_galleries_decoys_and_camids(sample):
    _, table = sample
    query = table[table["split"] == "query"]
    gallery = table[table["split"] == "gallery"]
    lonely = sorted(set(query["post_id"]) - set(gallery["post_id"]))
    assert len(lonely) == FULL.n_query_without_gallery
    only_gallery = set(gallery["post_id"]) - set(query["post_id"])
    assert len(only_gallery) == FULL.n_gallery_distractors
    assert len(set(query["post_id"]) & set(gallery["post_id"])) == FULL.n_test_ids
    assert not set(table.loc[table["split"] == "train", "post_id"]) & set(query["post_id"])
    for post, photos in query.groupby("post_id"):
        assert 1 <= len(photos) <= 2
        cams = set(gallery.loc[gallery["post_id"] == post, "camid"])
        assert not cams & set(photos["camid"])
    decoys = table[table["decoy_of"] != ""]
    assert set(lonely) <= set(decoys["post_id"])
    assert set(decoys["decoy_of"]) <= set(query["post_id"]) - set(lonely)
    assert (decoys["decoy_of"] != decoys["post_id"]).all()
    assert (table.loc[table["split"] == "train", "decoy_of"] == "").all()


def test_background_look_and_no_counterfactuals(tmp_path):
    config = SynthConfig(**{**TINY.__dict__, "look": "background", "counterfactual": False})
    table = generate(tmp_path / "bg", config)
    assert (table["look"] == "background").all()
    assert (table["counterfactual"] == "").all()
    assert not (tmp_path / "bg" / "counterfactual").exists()
    for _, row in table.iterrows():
        pixels = _pixels(tmp_path / "bg", row["image"])
        assert pixels.shape == (64, 32, 3)
        outside = ~_mask(tmp_path / "bg", row["animal_mask"])
        assert pixels.max(axis=2)[outside].mean() > 20  # a scene, not black


def _artifact_set(value: str) -> set[str]:
    return set(value.split(";")) - {""}


def test_polluted_collar_keeps_its_colour_and_touches_the_fur(sample):
    root, table = sample
    post = table[table["homogeneous_artifact"] == "collar"]
    assert len(post) >= 2
    chroma = []
    for _, row in post.iterrows():
        collar = _mask(root, row["mask_collar"])
        animal = _mask(root, row["animal_mask"])
        touching = collar & (distance_transform_edt(~animal) <= 1.5)
        assert touching.sum() >= 20, row["image"]  # worn by the animal, not floating
        rgb = _pixels(root, row["image"])[collar].astype(float)
        chroma.append(rgb.sum(axis=0) / rgb.sum())  # r, g, b shares: exposure cancels out
    chroma = np.asarray(chroma)
    assert np.abs(chroma - chroma.mean(axis=0)).max() < 0.05  # one collar in every photo


def test_collar_styles_draw_what_they_say():
    from workbench.synth.animals import random_identity
    from workbench.synth.artifacts import random_look

    ident = random_identity(np.random.default_rng(7), "dog")
    base = random_look("collar", np.random.default_rng(1))
    out = {}
    for style in ("collar", "harness", "leash", "studded"):
        look = replace(base, where=style)
        out[style] = render(ident, [look], "segmented", 256, 128, (9, 9, 9))
    assert len({o.pose for o in out.values()}) == 1  # same draws: same pose and framing
    area = {k: int(o.masks["collar"].sum()) for k, o in out.items()}
    assert area["collar"] >= 20
    assert area["harness"] > 1.5 * area["collar"]  # a chest strap besides the band
    bare = render(ident, [], "segmented", 256, 128, (9, 9, 9))  # the same photo without it
    far = distance_transform_edt(~bare.animal_mask)
    away = {k: int((far[o.masks["collar"]] > 2).sum()) for k, o in out.items()}
    assert away["collar"] == away["harness"] == away["studded"] == 0  # worn on the fur
    assert away["leash"] >= 10  # the leash leaves the animal
    # studs: bright, colourless metal on the band (all channels high)
    bright = {k: int((o.image[o.masks["collar"]].min(axis=1) > 100).sum()) for k, o in out.items()}
    assert bright["studded"] >= 20 and bright["studded"] >= 3 * bright["collar"]


def test_polluted_posts_are_twins_of_one_clean_animal():
    photos = plan(FULL)
    ident = {p.post_id: p.identity for p in photos if p.split == "train"}
    polluted = sorted({p.post_id for p in photos if p.homogeneous})
    clean = sorted(set(ident) - set(polluted))
    assert len(polluted) == len(ARTIFACTS)  # one group: a post per artifact kind

    def passes_for(a, b) -> bool:
        ratio = np.array([a.build.girth, a.build.head_r, a.build.leg_len, a.build.tail_len])
        ratio = ratio / [b.build.girth, b.build.head_r, b.build.leg_len, b.build.tail_len]
        return (
            a.species == b.species
            and a.coat.name == b.coat.name
            and a.build.ear_type == b.build.ear_type
            and np.abs(ratio - 1).max() <= 0.04 + 1e-9
            and np.abs(np.subtract(a.coat.base, b.coat.base)).max() < 0.12
        )

    originals = [c for c in clean if all(passes_for(ident[p], ident[c]) for p in polluted)]
    assert len(originals) >= 1
    assert len({ident[p] for p in polluted}) == len(polluted)  # twins, not copies
    apart = SynthConfig(**{**FULL.__dict__, "polluted_twin_fraction": 0.0})
    alone = {p.post_id: p.identity for p in plan(apart) if p.split == "train"}
    assert [alone[p] for p in clean] == [ident[p] for p in clean]
    assert not any(passes_for(alone[p], ident[originals[0]]) for p in polluted)


def test_each_query_artifact_gets_a_decoy_that_carries_it(sample):
    _, table = sample
    query = table[table["split"] == "query"]
    gallery = table[table["split"] == "gallery"]
    tests = set(query["post_id"]) & set(gallery["post_id"])
    kinds = {
        post: set().union(*map(_artifact_set, photos["artifacts"]))
        for post, photos in query[query["post_id"].isin(tests)].groupby("post_id")
    }
    with_artifact = {p for p, k in kinds.items() if k}
    decoys = gallery[gallery["decoy_of"] != ""].groupby("post_id")
    carriers = {}
    for post, photos in decoys:
        target = photos["decoy_of"].iloc[0]
        shared = [_artifact_set(a) & kinds.get(target, set()) for a in photos["artifacts"]]
        if all(shared):
            carriers[post] = target
    assert with_artifact
    n_decoys = round(FULL.decoy_fraction * FULL.n_gallery_distractors)
    assert len(carriers) == min(len(with_artifact), n_decoys)
    assert len(set(carriers.values())) == len(carriers)  # one decoy per query post
    assert set(carriers.values()) <= with_artifact


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"photos_min": 5, "photos_max": 3}, "photos_min (5) is larger than photos_max (3)"),
        ({"photos_min": 1}, "photos_min must be at least 2"),
        ({"look": "cartoon"}, "look must be one of segmented, background"),
        ({"n_train_ids": -1}, "n_train_ids must be 0 or more"),
        ({"polluted_fraction": 1.5}, "polluted_fraction must be between 0 and 1"),
        (
            {
                "n_train_ids": 0,
                "n_test_ids": 0,
                "n_gallery_distractors": 0,
                "n_query_without_gallery": 0,
            },
            "dataset would be empty",
        ),
        ({"seed": "0"}, "seed must be a int"),
        ({"counterfactual": 1}, "counterfactual must be a bool"),
        (
            {"mismatch_fraction": 0.8, "shared_pair_fraction": 0.3},
            "mismatch_fraction (0.8) + shared_pair_fraction (0.3) is above 1",
        ),
    ],
)
def test_bad_config_says_how_to_fix(change, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        SynthConfig(**change)


def test_refuses_foreign_folder_and_replaces_its_own(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty and was not written by the sample generator"):
        generate(foreign, TINY)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    out = tmp_path / "pets"
    generate(out, TINY)
    (out / "train" / "stray.jpg").write_bytes(b"old")
    generate(out, TINY)
    assert not (out / "train" / "stray.jpg").exists()
    assert (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "pets"]


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path):
    calls = []

    def stop(done: int, total: int) -> None:
        calls.append((done, total))
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "pets", TINY, progress=stop)
    assert calls == [(1, calls[0][1]), (2, calls[0][1]), (3, calls[0][1])]
    assert list(tmp_path.iterdir()) == []


def test_progress_reports_every_photo(tmp_path):
    calls = []
    table = generate(tmp_path / "pets", TINY, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i + 1, len(table)) for i in range(len(table))]


def test_loads_with_the_dataset_loader(sample):
    from curation.dataset import load_dataset

    root, table = sample
    data = load_dataset(root)
    assert len(data.table) == len(table)
    assert data.has_ground_truth
    assert [f.code for f in data.findings if f.level == "warning"] == ["query-without-gallery"]


def test_contact_sheet_tiles_paths_images_and_arrays(sample):
    root, table = sample
    items = [
        root / table["image"].iloc[0],
        Image.new("RGB", (10, 10), (255, 0, 0)),
        np.zeros((20, 10), bool),
        np.full((8, 8, 3), 200, np.uint8),
        str(root / table["image"].iloc[1]),
    ]
    sheet = contact_sheet(items, cols=2, thumb=(32, 64), gap=2, labels=["a", "b", "c", "d", "e"])
    assert sheet.size == (2 * 32 + 3 * 2, 3 * 64 + 4 * 2) and sheet.mode == "RGB"
    red_tile = np.asarray(sheet)[2 : 2 + 64, 2 + 32 + 2 : 2 + 32 + 2 + 32]  # row 0, column 1
    assert (red_tile[30, 16] == (255, 0, 0)).all()
    assert (red_tile[5, 16] == (40, 40, 40)).all()  # padding keeps the aspect ratio
    with pytest.raises(ValueError, match="cols must be at least 1"):
        contact_sheet(items, cols=0)
    with pytest.raises(ValueError, match="one per image"):
        contact_sheet(items, labels=["a"])
