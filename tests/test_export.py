"""Export: round trip through the loader, layouts, bucket folders, provenance, atomicity, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from curation import export as export_mod
from curation import replace
from curation.dataset import load_dataset, load_folder, load_manifest
from curation.export import ExportError, canonical_sha256, export
from curation.rules import removal_frame
from curation.store import TagStore
from tests.conftest import write_image
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _removal(ds, images: list[str], rule: str = "manual", cause: str = "test") -> pd.DataFrame:
    meta = ds.table.set_index("image")
    return removal_frame(
        {"image": i, "post_id": meta.loc[i, "post_id"], "split": meta.loc[i, "split"],
         "rule": rule, "cause": cause, "reason": f"{i} removed for the test"}
        for i in images
    )  # fmt: skip


@pytest.fixture
def gt_data(tmp_path: Path) -> Path:
    """A manifest dataset with ground-truth columns and mask files, non-torchreid file names."""
    root = tmp_path / "src"
    rows = []
    posts = {"11": ("train", 3), "12": ("train", 2), "21": ("query", 1), "22": ("gallery", 2)}
    seed = 0
    for post, (split, n) in posts.items():
        for photo in range(1, n + 1):
            seed += 1
            image = f"photos/{split}/p{post}-{photo}.png"
            mask = f"masks/p{post}-{photo}.png"
            write_image(root / image, seed=seed, size=(16, 32))
            write_image(root / mask, seed=100 + seed, size=(16, 32))
            rows.append({"image": image, "post_id": post, "photo": photo, "split": split,
                         "camid": photo, "artifacts": "tongue" if post == "11" else "",
                         "animal_mask": mask, "polluted": post == "11"})  # fmt: skip
    # the query photo of post 22 sits in the gallery folder on disk: ids are just paths
    rows.append({"image": "photos/query/p22-9.png", "post_id": "22", "photo": 9, "split": "query",
                 "camid": 9, "artifacts": "", "animal_mask": "", "polluted": False})  # fmt: skip
    write_image(root / "photos/query/p22-9.png", seed=77, size=(16, 32))
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def test_round_trip_mirror_layout(gt_data, tmp_path):
    ds = load_dataset(gt_data)
    removals = _removal(ds, ["photos/train/p12-1.png", "photos/train/p12-2.png"])
    out = tmp_path / "clean"
    res = export(ds, removals, out)
    kept = ds.table[~ds.table["image"].isin(removals["image"])].reset_index(drop=True)
    back = load_dataset(out, follow_links=True)
    pd.testing.assert_frame_equal(back.table, kept)
    pq = load_manifest(out / "manifest.parquet", follow_links=True)
    pd.testing.assert_frame_equal(pq.table, kept, check_dtype=False)
    assert back.root == out
    link = out / "photos/train/p11-1.png"
    assert link.is_symlink() and link.resolve() == (gt_data / "photos/train/p11-1.png").resolve()
    assert (out / "masks/p11-1.png").is_symlink()  # ground-truth files come along
    assert not (out / "photos/train/p12-1.png").exists()
    assert not (out / "masks/p12-1.png").exists()
    assert (res.kept_images, res.removed_images) == (len(kept), 2)
    csv = (out / "manifest.csv").read_text().splitlines()
    assert csv[0].startswith("image,post_id,photo,split,camid")
    assert [line.split(",")[0] for line in csv[1:]] == list(kept["image"])
    assert "\\" not in (out / "manifest.csv").read_text()


def test_torchreid_copy_layout(gt_data, tmp_path):
    ds = load_dataset(gt_data)
    out = tmp_path / "reid"
    export(ds, removal_frame([]), out, layout="copy")
    back = load_dataset(out)
    assert list(back.table["image"]) == [
        "train/11_1.png", "train/11_2.png", "train/11_3.png", "train/12_1.png", "train/12_2.png",
        "query/21_1.png", "query/22_9.png", "gallery/22_1.png", "gallery/22_2.png",
    ]  # fmt: skip
    assert back.table.set_index("image").loc["query/22_9.png", "source_image"] == (
        "photos/query/p22-9.png"
    )
    assert not (out / "train/11_1.png").is_symlink()
    assert (out / "train/11_1.png").read_bytes() == (
        gt_data / "photos/train/p11-1.png"
    ).read_bytes()
    assert not (out / "masks/p11-1.png").is_symlink()
    # torchreid's folder convention reads the same identities
    folder = load_folder(out)
    pd.testing.assert_frame_equal(
        folder.table[["image", "post_id", "photo", "split"]],
        back.table[["image", "post_id", "photo", "split"]],
    )


def test_torchreid_layout_refuses_unwritable_post_ids(tree, tmp_path):
    ds = load_dataset(tree)
    ds.table.loc[0, "post_id"] = "a_b_c"
    with pytest.raises(ExportError, match="cannot be written as a torchreid file name"):
        export(ds, removal_frame([]), tmp_path / "x", layout="symlink")


def test_bucket_folders_with_heatmaps(tree, tmp_path):
    ds = load_dataset(tree)
    store = TagStore(tmp_path / "t.sqlite", dataset=ds)
    store.set_bucket("query/201_1.jpg", "missed", "ann", note="hard")
    store.set_artifacts("query/201_1.jpg", ["tongue"], "ann")
    store.set_bucket("query/7_202_1.jpg", "spurious", "bob")
    store.set_artifacts("gallery/203_1.jpg", ["glare"], "bob")  # no bucket: not in a folder
    maps = tmp_path / "maps"
    heat = [write_image(maps / "e3.png", 1), write_image(maps / "e60.png", 2)]
    res = export(ds, removal_frame([]), tmp_path / "out", buckets=store.current(),
                 heatmaps={"query/201_1.jpg": heat})  # fmt: skip
    out = res.out_dir
    assert res.bucket_counts == {"worked": 0, "missed": 1, "spurious": 1}
    assert (out / "missed/query/201_1.jpg").is_symlink()
    assert (out / "missed/query/201_1__e3.png").exists()
    assert (out / "missed/query/201_1__e60.png").exists()
    assert (out / "spurious/query/7_202_1.jpg").exists()
    assert (out / "worked").is_dir() and not any((out / "worked").iterdir())
    b = pd.read_csv(out / "buckets.csv", keep_default_na=False)
    assert list(b["image"]) == ["query/201_1.jpg", "query/7_202_1.jpg"]
    assert b.loc[0, "artifacts"] == "tongue" and b.loc[0, "note"] == "hard"
    assert b.loc[0, "heatmaps"] == "missed/query/201_1__e3.png;missed/query/201_1__e60.png"
    with pytest.raises(ExportError, match="not in the dataset"):
        export(ds, removal_frame([]), tmp_path / "o2", buckets={"query/999_1.jpg": "worked"})
    with pytest.raises(ExportError, match="not found"):
        export(ds, removal_frame([]), tmp_path / "o3", buckets={"query/201_1.jpg": "worked"},
               heatmaps={"query/201_1.jpg": [maps / "nope.png"]})  # fmt: skip
    store.close()


def test_provenance_and_determinism(tree, tmp_path):
    ds = load_dataset(tree)
    removals = pd.concat([
        _removal(ds, ["train/101_1.jpg", "train/101_2.jpg"], "homogeneous_artifact", "tongue"),
        _removal(ds, ["train/102_2.jpg"], "duplicates", "intra-post"),
        _removal(ds, ["train/101_1.jpg"], "duplicates", "intra-post"),
    ])  # fmt: skip
    rules = [{"name": "homogeneous_artifact", "params": {"threshold": 0.8}}]
    a = export(ds, removals, tmp_path / "a", provenance={"rules": rules, "tags": None})
    b = export(ds, removals.iloc[::-1], tmp_path / "b", provenance={"rules": rules, "tags": None})
    for name in ("manifest.csv", "manifest.parquet", "removals.csv"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes()
    prov = json.loads(a.provenance.read_text())
    assert prov["tool"] == "workbench export"
    assert prov["source"]["manifest_sha256"] == canonical_sha256(ds.table)
    assert prov["source"]["images"] == 12 and prov["kept"]["images"] == 9
    assert prov["removed"]["images"] == 3 and prov["removed"]["posts_entirely"] == 1
    assert prov["removed"]["per_split"] == {"train": 3, "query": 0, "gallery": 0}
    assert prov["removed"]["by_reason"] == [
        {"rule": "duplicates", "cause": "intra-post", "images": 2, "posts": 2},
        {"rule": "homogeneous_artifact", "cause": "tongue", "images": 2, "posts": 1},
    ]
    assert prov["rules"] == rules
    from workbench import __version__

    assert prov["version"] == __version__ and prov["created_utc"].endswith("+00:00")
    assert (
        prov["files_sha256"]["manifest.csv"]
        == hashlib.sha256(a.manifest_csv.read_bytes()).hexdigest()
    )
    assert a.provenance.read_text() == json.dumps(prov, sort_keys=True, indent=2) + "\n"
    with pytest.raises(ExportError, match="written by the export"):
        export(ds, removals, tmp_path / "c", provenance={"version": "x"})


def test_bad_inputs_are_refused(tree, tmp_path):
    ds = load_dataset(tree)
    bad = removal_frame([{"image": "train/999_1.jpg", "post_id": "999", "split": "train",
                          "rule": "r", "cause": "c", "reason": "x"}])  # fmt: skip
    with pytest.raises(ExportError, match="not in the dataset"):
        export(ds, bad, tmp_path / "o")
    with pytest.raises(ExportError, match="lacks column"):
        export(ds, pd.DataFrame({"image": []}), tmp_path / "o")
    with pytest.raises(ExportError, match="layout"):
        export(ds, removal_frame([]), tmp_path / "o", layout="hardlink")
    with pytest.raises(ExportError, match="holds the source dataset"):
        export(ds, removal_frame([]), tree)
    with pytest.raises(ExportError, match="holds the source dataset"):
        export(ds, removal_frame([]), tree.parent)
    precious = tmp_path / "precious"
    write_image(precious / "holiday.jpg")
    with pytest.raises(ExportError, match="holds no workbench export"):
        export(ds, removal_frame([]), precious)
    assert (precious / "holiday.jpg").exists()
    with pytest.raises(ExportError, match="removed every image"):
        export(ds, _removal(ds, list(ds.table["image"])), tmp_path / "o")


def _first_export(tree: Path, out: Path):
    ds = load_dataset(tree)
    export(ds, removal_frame([]), out)
    return ds, (out / "manifest.csv").read_bytes(), (out / "provenance.json").read_bytes()


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")
                  and not p.name.endswith(".lock"))  # fmt: skip


def test_crash_before_swap_keeps_previous_export(tree, tmp_path, monkeypatch):
    out = tmp_path / "clean"
    ds, manifest, prov = _first_export(tree, out)

    def crash(tmp: Path) -> None:
        assert (tmp / "manifest.csv").exists()  # the new export was fully written
        raise OSError("disk unplugged")

    monkeypatch.setattr(export_mod, "_before_swap", crash)
    with pytest.raises(OSError, match="disk unplugged"):
        export(ds, _removal(ds, ["train/101_1.jpg"]), out)
    assert (out / "manifest.csv").read_bytes() == manifest
    assert (out / "provenance.json").read_bytes() == prov
    assert len(load_dataset(out, follow_links=True).table) == 12
    assert _leftovers(out) == []


def test_kill_before_swap_keeps_previous_export(tree, tmp_path):
    out = tmp_path / "clean"
    ds, manifest, _ = _first_export(tree, out)
    script = f"""
import os, signal
from curation import export as m
from curation.dataset import load_dataset
from curation.rules import removal_frame
m._before_swap = lambda tmp: os.kill(os.getpid(), signal.SIGKILL)
ds = load_dataset({str(tree)!r})
m.export(ds, removal_frame([]).iloc[:0], {str(out)!r}, layout="copy")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert (out / "manifest.csv").read_bytes() == manifest
    assert len(_leftovers(out)) == 1  # the killed export's temp folder
    export(ds, _removal(ds, ["train/101_1.jpg"]), out)  # the next export cleans up
    assert _leftovers(out) == [] and len(load_dataset(out, follow_links=True).table) == 11


def test_swap_without_atomic_exchange_and_recovery(tree, tmp_path, monkeypatch):
    out = tmp_path / "clean"
    ds, _, _ = _first_export(tree, out)
    monkeypatch.setattr(replace, "_exchange", lambda a, b: False)
    export(ds, _removal(ds, ["train/101_1.jpg"]), out)
    assert len(load_dataset(out, follow_links=True).table) == 11 and _leftovers(out) == []
    # a crash between the two renames leaves the previous export aside: it is restored first
    os.rename(out, out.parent / f".{out.name}.old-x1")
    monkeypatch.setattr(export_mod, "_before_swap", lambda tmp: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        export(ds, removal_frame([]), out)
    assert len(load_dataset(out, follow_links=True).table) == 11 and _leftovers(out) == []


def test_export_cli_prints_removals_by_reason(tree, tmp_path):
    db = tmp_path / "t.sqlite"
    ds = load_dataset(tree)
    store = TagStore(db, dataset=ds)
    store.flag_post("103", "multiple-animals", "ann")
    store.set_bucket("query/201_1.jpg", "missed", "ann")
    store.set_artifacts("train/101_1.jpg", ["tongue"], "ann")
    store.set_artifacts("train/101_2.jpg", ["tongue", "grass"], "ann")
    store.close()
    dups = pd.DataFrame(
        {"group": ["g1", "g1"], "image": ["train/102_2.jpg", "gallery/203_1.jpg"],
         "post_id": ["102", "203"], "split": ["train", "gallery"], "kind": ["exact", "exact"],
         "scope": ["train-test", "train-test"], "hash_distance": [0, 0],
         "similarity": [1.0, 1.0]}
    )  # fmt: skip
    dups.to_csv(tmp_path / "dups.csv", index=False)
    out = tmp_path / "export"
    args = ["export", "--data", str(tree), "--store", str(db), "--out", str(out),
            "--rules", "homogeneous_artifact:threshold=0.8,duplicates:leakage=image,"
            "one_animal_per_post", "--duplicates", str(tmp_path / "dups.csv")]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "removed 5 of 12 images:"
    assert any("duplicates" in ln and "train-test" in ln and "1 images" in ln for ln in lines)
    assert any("homogeneous_artifact" in ln and "tongue" in ln and "2 images" in ln for ln in lines)
    assert any("one_animal_per_post" in ln and "2 images" in ln for ln in lines)
    assert "kept 7 images" in r.output and "bucket folders: worked 0, missed 1, spurious 0" in (
        r.output
    )
    assert f"wrote {out}" in r.output
    assert (out / "missed/query/201_1.jpg").exists()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["rules"][0]["params"]["threshold"] == 0.8
    assert len(prov["tags"]["snapshot_sha256"]) == 64 and prov["duplicates"]["sha256"]
    r = CliRunner().invoke(main, [*args[:-4], "--rules", "duplicates"])
    assert r.exit_code != 0 and "--duplicates" in r.output
    r = CliRunner().invoke(main, ["export", "--help"])
    assert "homogeneous_artifact:threshold=0.8,duplicates" in r.output


@pytest.mark.slow
def test_training_reads_the_export(tree, tmp_path):
    from workbench.train import Recipe, train

    ds = load_dataset(tree)
    out = tmp_path / "clean"
    export(ds, _removal(ds, ["train/103_1.jpg", "train/103_2.jpg"]), out, layout="symlink")
    recipe = Recipe(arch="osnet_x0_25", height=64, width=32, epochs=1, save_at=(1,),
                    batch_size=4, num_instances=2, augment=())  # fmt: skip
    result = train(load_dataset(out, follow_links=True), tmp_path / "series", recipe, threads=1)
    assert len(result.checkpoints) == 1
