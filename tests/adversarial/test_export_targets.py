"""Hostile and careless export targets: manifest paths, --out folders, report and series folders.

Each case builds its bad input under ``tmp_path`` and asserts the exact message and that the
watched folders (a victim beside the dataset, the attacker's files, the dataset itself, other
people's exports) are unchanged. The export is called on a :class:`Dataset` built directly, not
through the loader: the export must refuse a hostile manifest on its own, whatever the Dataset
holds. The CLI cases go through the loader too, so they assert what any refusal must say (the
column and the path), not the wording of whichever layer refuses first.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from curation.dataset import Dataset
from curation.export import ExportError, export
from curation.rules import removal_frame
from tests.adversarial.conftest import ROOT, _snapshot, assert_clean_error, workbench
from tests.conftest import write_image

IMAGES = [
    ("train/101_1.png", "101", 1, "train"),
    ("train/101_2.png", "101", 2, "train"),
    ("train/102_1.png", "102", 1, "train"),
    ("train/102_2.png", "102", 2, "train"),
    ("query/201_1.png", "201", 1, "query"),
    ("gallery/201_2.png", "201", 2, "gallery"),
]
FIRST = IMAGES[0][0]
NONE = removal_frame([])


@dataclass
class World:
    """``data/`` (the dataset, with ``somelink`` -> ``attacker/p/q/r`` and ``outlink.png`` ->
    ``attacker/secret.png``), ``victim/important.txt``, ``attacker/``, ``exports/``."""

    base: Path
    data: Path
    victim: Path
    attacker: Path
    exports: Path

    def rows(self) -> list[dict]:
        return [{"image": img, "post_id": post, "photo": photo, "split": split, "camid": photo,
                 "animal_mask": f"masks/{Path(img).stem}.png", "counterfactual": "",
                 "mask_tongue": ""} for img, post, photo, split in IMAGES]  # fmt: skip

    def dataset(self, rows: list[dict] | None = None, **first) -> Dataset:
        """The dataset as a Dataset object (no loader); ``first``: columns of the first row."""
        rows = rows or self.rows()
        rows[0].update(first)
        table = pd.DataFrame(rows)
        table[["photo", "camid"]] = table[["photo", "camid"]].astype("int64")
        return Dataset(root=self.data, table=table, source=f"manifest {self.data}")

    def write_manifest(self, **first) -> None:
        rows = self.rows()
        rows[0].update(first)
        pd.DataFrame(rows).to_csv(self.data / "manifest.csv", index=False)


@pytest.fixture
def world(tmp_path: Path) -> World:
    base = tmp_path
    w = World(base, base / "data", base / "victim", base / "attacker", base / "exports")
    for i, (img, *_rest) in enumerate(IMAGES):
        write_image(w.data / img, seed=i)
        write_image(w.data / "masks" / f"{Path(img).stem}.png", seed=50 + i)
    (w.victim).mkdir()
    (w.victim / "important.txt").write_text("precious\n")
    (w.attacker / "victim").mkdir(parents=True)
    (w.attacker / "victim" / "important.txt").write_text("attacker's bytes\n")
    (w.attacker / "victim" / "planted.txt").write_text("attacker's bytes\n")
    (w.attacker / "p" / "q" / "r").mkdir(parents=True)
    write_image(w.attacker / "secret.png", seed=99)
    os.symlink(w.attacker / "p" / "q" / "r", w.data / "somelink")
    os.symlink(w.attacker / "secret.png", w.data / "outlink.png")
    w.exports.mkdir()
    w.write_manifest()
    return w


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- hostile manifest paths ------------------------------------------------------------------

WHERE = f"row {FIRST!r}, column"
INSIDE = "; paths in a manifest are relative to the dataset folder {data} and stay inside it"
DOTDOT = "somelink/../../../victim/important.txt"  # through the link it reaches victim/
PLANT = "somelink/../../../victim/planted.txt"


def _outside(rel: str, real: Path, data: Path) -> str:
    return (f"{rel!r} leads to {real}, outside the dataset folder {data} (through a symbolic "
            "link); the export reads only files inside the dataset folder: put the file there "
            "or fix the path")  # fmt: skip


SOURCE_CASES = {
    # id: (columns of the first row, layout, message after "row ..., column ")
    "mask-link-dotdot-copy": ({"animal_mask": DOTDOT}, "copy",
                              f"'animal_mask': {DOTDOT!r} climbs out with '..'" + INSIDE),
    "mask-link-dotdot-mirror": ({"animal_mask": PLANT}, None,
                                f"'animal_mask': {PLANT!r} climbs out with '..'" + INSIDE),
    "mask-link-dotdot-symlink": ({"animal_mask": PLANT}, "symlink",
                                 f"'animal_mask': {PLANT!r} climbs out with '..'" + INSIDE),
    "counterfactual-dotdot": ({"counterfactual": "../victim/important.txt"}, "copy",
                              "'counterfactual': '../victim/important.txt' climbs out with '..'"
                              + INSIDE),
    "mask-absolute": ({"mask_tongue": "{base}/victim/important.txt"}, "copy",
                      "'mask_tongue': '{base}/victim/important.txt' is an absolute path" + INSIDE),
    "mask-link-to-outside-file": ({"animal_mask": "outlink.png"}, "copy",
                                  "'animal_mask': " + "{outlink}"),
    "image-link-to-outside-file": ({}, "copy", "'image': {imagelink}"),
    "mask-is-a-folder": ({"animal_mask": "masks"}, "copy",
                         "'animal_mask': 'masks' is not a regular file (a folder, pipe or device); "
                         "point it at an image or mask file"),
    "mask-is-a-fifo": ({"animal_mask": "pipes/fifo.png"}, "copy",
                       "'animal_mask': 'pipes/fifo.png' is not a regular file (a folder, pipe or "
                       "device); point it at an image or mask file"),
    "mask-nul-character": ({"animal_mask": "masks/a\x00.png"}, "copy",
                           "'animal_mask': 'masks/a\\x00.png' contains a NUL character" + INSIDE),
}  # fmt: skip


def _prepare_source_case(world: World, case: str) -> None:
    if case == "image-link-to-outside-file":
        (world.data / FIRST).unlink()
        os.symlink(world.attacker / "secret.png", world.data / FIRST)
    if case == "mask-is-a-fifo":
        (world.data / "pipes").mkdir()
        os.mkfifo(world.data / "pipes" / "fifo.png")


def _watch_data(world: World, watch) -> list:
    """Watches of the dataset's folders but ``pipes/`` (reading a FIFO would block)."""
    return [watch(world.data / d) for d in ("train", "query", "gallery", "masks")]


@pytest.mark.parametrize("case", list(SOURCE_CASES))
def test_hostile_manifest_path_is_refused_naming_row_and_column(world, watch, case):
    first, layout, message = SOURCE_CASES[case]
    _prepare_source_case(world, case)
    fmt = {"base": world.base, "data": world.data,
           "outlink": _outside("outlink.png", world.attacker / "secret.png", world.data),
           "imagelink": _outside(FIRST, world.attacker / "secret.png", world.data)}  # fmt: skip
    first = {k: v.format(**fmt) for k, v in first.items()}
    watched = [watch(world.victim), watch(world.attacker), watch(world.exports),
               *_watch_data(world, watch)]  # fmt: skip
    with pytest.raises(ExportError) as err:
        export(world.dataset(**first), NONE, world.exports / "clean", layout=layout)
    assert str(err.value) == f"{WHERE} {message.format(**fmt)}"
    for w in watched:
        w.assert_unchanged()
    assert (world.victim / "important.txt").read_text() == "precious\n"


@pytest.mark.parametrize("layout", ["copy", "mirror", "symlink"])
def test_cli_attack_through_a_link_writes_nothing_outside(world, watch, layout):
    """The attack as found: `animal_mask = somelink/../../../victim/...` overwrote (copy) or
    planted a link (mirror, symlink) in victim/. Through the CLI, loader included."""
    value = DOTDOT if layout == "copy" else PLANT
    world.write_manifest(animal_mask=value)
    watched = [watch(world.victim), watch(world.attacker), watch(world.data)]
    proc = workbench("export", "--data", str(world.data), "--out",
                     str(world.exports / "clean"), "--layout", layout)  # fmt: skip
    assert_clean_error(proc, "animal_mask", value)
    for w in watched:
        w.assert_unchanged()
    assert not (world.exports / "clean").exists()


def test_cli_fifo_mask_is_refused_not_read_forever(world, watch):
    _prepare_source_case(world, "mask-is-a-fifo")
    world.write_manifest(animal_mask="pipes/fifo.png")
    watched = _watch_data(world, watch)
    proc = workbench("export", "--data", str(world.data), "--out", str(world.exports / "clean"),
                     "--layout", "copy", timeout=60)  # fmt: skip
    assert_clean_error(proc, "animal_mask", "pipes/fifo.png")
    for w in watched:
        w.assert_unchanged()


def test_two_files_claiming_one_destination_are_refused(world):
    """torchreid layout renames images: one named train/103_1.png must not silently replace
    (or be replaced by) the mask file at that very path."""
    write_image(world.data / "extra" / "odd.png", seed=7)
    write_image(world.data / "train" / "103_1.png", seed=8)  # on disk, not in the manifest
    rows = world.rows()
    rows.append(
        {
            "image": "extra/odd.png",
            "post_id": "103",
            "photo": 1,
            "split": "train",
            "camid": 1,
            "animal_mask": "",
            "counterfactual": "",
            "mask_tongue": "",
        }
    )
    ds = world.dataset(rows, animal_mask="train/103_1.png")  # fmt: skip
    with pytest.raises(ExportError) as err:
        export(ds, NONE, world.exports / "clean", layout="symlink")
    real = os.path.realpath
    assert str(err.value) == (
        f"{WHERE} 'animal_mask': train/103_1.png would hold both "
        f"{real(world.data / 'extra/odd.png')} and {real(world.data / 'train/103_1.png')}; "
        "give the files distinct paths"
    )
    assert not (world.exports / "clean").exists()


@pytest.mark.parametrize("name", ["provenance.json", "written.json"])
def test_source_path_on_a_name_the_export_writes_is_refused(world, name):
    (world.data / name).write_text("{}")
    with pytest.raises(ExportError) as err:
        export(world.dataset(animal_mask=name), NONE, world.exports / "clean")
    assert str(err.value) == (
        f"{name}: the export uses the name {name!r} itself; rename that folder in the source "
        "dataset"
    )


def test_two_spellings_of_one_mask_are_one_file(world):
    rows = world.rows()
    rows[1]["animal_mask"] = "./masks//101_1.png"
    res = export(world.dataset(rows), NONE, world.exports / "clean", layout="copy")
    masks = sorted(f"{Path(img).stem}.png" for img, *_ in IMAGES if img != "train/101_2.png")
    assert sorted(p.name for p in (res.out_dir / "masks").iterdir()) == masks
    assert (res.out_dir / "./masks//101_1.png").read_bytes() == (
        world.data / "masks/101_1.png"
    ).read_bytes()


# -- --out targets ---------------------------------------------------------------------------


def _export(world: World, out: Path, layout=None, ds=None):
    return export(ds or world.dataset(), NONE, out, layout=layout)


def _user_files(folder: Path) -> None:
    (folder / "series").mkdir(parents=True, exist_ok=True)
    (folder / "series" / "model.pth.tar-60").write_bytes(b"weights of a week")
    (folder / "NOTES.txt").write_text("my notes\n")


REFUSE = "; refusing to replace it; move them out or choose another --out"
NOT_OURS = "that `workbench export` did not write there or that changed since" + REFUSE


def _target_case(world: World, case: str) -> tuple[Path, str]:
    """Build the target of one case; returns (out, expected message)."""
    out = world.exports / "clean"
    if case == "out-is-a-link-to-a-folder":
        os.symlink(world.victim, out)
        return out, f"{out} is a symbolic link (to {world.victim}); give a real folder as --out, " \
                    "not a link"  # fmt: skip
    if case == "out-is-a-dangling-link":
        os.symlink(world.base / "nowhere", out)
        return out, f"{out} is a symbolic link (to {world.base / 'nowhere'}); give a real folder " \
                    "as --out, not a link"  # fmt: skip
    if case == "out-is-a-file":
        out.write_text("a file\n")
        return out, f"{out} exists and is not a folder; choose another --out"
    if case == "out-inside-the-dataset":
        out = world.data / "exports" / "clean"
        return out, (
            f"{out} is inside the source dataset ({world.data}); an export there would "
            "change the dataset it is made from; export to a folder outside it"
        )
    if case == "out-is-the-dataset":
        return world.data, (f"{world.data} holds the source dataset ({world.data}); replacing it "
                            "would delete the source; export to another folder")  # fmt: skip
    if case == "out-is-a-parent-of-the-dataset":
        return world.base, (f"{world.base} holds the source dataset ({world.data}); replacing it "
                            "would delete the source; export to another folder")  # fmt: skip
    if case == "out-holds-user-files":
        _user_files(out)
        return out, (f"{out} is not empty and holds no workbench export (no written.json); "
                     "refusing to replace its 2 entries (NOTES.txt, series/); move them out or "
                     "choose another --out")  # fmt: skip
    if case == "earlier-export-plus-user-files":
        _export(world, out)
        _user_files(out)
        return out, f"{out} holds 2 entries (NOTES.txt, series/) {NOT_OURS}"
    if case == "forged-provenance":
        _user_files(out)
        (out / "provenance.json").write_text(json.dumps({"tool": "workbench export"}))
        return out, (f"{out} is not empty and holds no workbench export (no written.json); "
                     "refusing to replace its 3 entries (NOTES.txt, provenance.json, series/); "
                     "move them out or choose another --out")  # fmt: skip
    if case == "forged-record-one-key":
        _user_files(out)
        (out / "written.json").write_text(json.dumps({"tool": "workbench export"}))
        return out, (f"{out} is not empty and holds no workbench export (written.json is not a "
                     "record of written files); refusing to replace its 3 entries (NOTES.txt, "
                     "series/, written.json); move them out or choose another --out")  # fmt: skip
    if case == "forged-record-without-hashes":
        _user_files(out)
        entries = {
            "NOTES.txt": {"kind": "file"},
            "series": {"kind": "dir"},
            "series/model.pth.tar-60": {"kind": "file", "size": 17, "sha256": "0" * 64},
        }
        (out / "written.json").write_text(
            json.dumps(
                {"tool": "workbench export", "format": 1, "complete": True, "entries": entries}
            )
        )
        return out, (f"{out} holds 2 entries (NOTES.txt (changed), series/model.pth.tar-60 "
                     f"(changed)) {NOT_OURS}")  # fmt: skip
    if case == "earlier-export-edited-manifest":
        _export(world, out)
        with open(out / "manifest.csv", "a") as fh:
            fh.write("my,own,row,train,1\n")
        return out, f"{out} holds 1 entry (manifest.csv (changed)) {NOT_OURS}"
    if case == "earlier-export-link-replaced-by-a-file":
        _export(world, out)
        (out / FIRST).unlink()
        (out / FIRST).write_bytes(b"my retouched photo")
        return out, f"{out} holds 1 entry ({FIRST} (changed)) {NOT_OURS}"
    if case == "lock-file-is-a-link":
        os.symlink(world.victim / "created.txt", world.exports / ".clean.lock")
        return out, (f"{world.exports / '.clean.lock'} is a symbolic link; remove it (it is the "
                     f"lock file for {out})")  # fmt: skip
    raise AssertionError(case)


TARGET_CASES = [
    "out-is-a-link-to-a-folder", "out-is-a-dangling-link", "out-is-a-file",
    "out-inside-the-dataset", "out-is-the-dataset", "out-is-a-parent-of-the-dataset",
    "out-holds-user-files", "earlier-export-plus-user-files", "forged-provenance",
    "forged-record-one-key", "forged-record-without-hashes", "earlier-export-edited-manifest",
    "earlier-export-link-replaced-by-a-file", "lock-file-is-a-link",
]  # fmt: skip


@pytest.mark.parametrize("layout", [None, "copy"], ids=["mirror", "copy"])
@pytest.mark.parametrize("case", TARGET_CASES)
def test_bad_out_is_refused_and_nothing_changes(world, watch, case, layout):
    out, message = _target_case(world, case)
    watched = [watch(world.base / n) for n in ("victim", "attacker", "data", "exports")]
    with pytest.raises(ExportError) as err:
        _export(world, out, layout)
    assert str(err.value) == message
    for w in watched:
        w.assert_unchanged()


def test_cli_refusal_lists_unexpected_entries_first_ten_and_a_count(world, watch):
    out = world.exports / "clean"
    _export(world, out)
    for i in range(14):
        (out / f"mine-{i:02d}.txt").write_text("mine")
    watched = watch(out)
    proc = workbench("export", "--data", str(world.data), "--out", str(out))
    names = ", ".join(f"mine-{i:02d}.txt" for i in range(10))
    assert_clean_error(proc, f"{out} holds 14 entries ({names} and 4 more) {NOT_OURS}")
    watched.assert_unchanged()


def test_re_export_replaces_exactly_what_it_recorded(world):
    out = world.exports / "clean"
    first = _export(world, out, "copy")
    rec = json.loads((out / "written.json").read_text())
    assert rec["tool"] == "workbench export" and rec["complete"] is True
    assert rec["entries"]["manifest.csv"] == {
        "kind": "file", "size": first.manifest_csv.stat().st_size,
        "sha256": _sha(first.manifest_csv)}  # fmt: skip
    assert rec["entries"]["masks"] == {"kind": "dir"}
    assert set(rec["entries"]) == set(owned_tree(out)) - {"written.json"}
    (out / "masks" / "101_2.png").unlink()  # gone: nothing of anyone else's would be lost
    ds = world.dataset()
    res = export(ds, removal_frame([{"image": FIRST, "post_id": "101", "split": "train",
                                     "rule": "r", "cause": "c", "reason": "x"}]), out)  # fmt: skip
    assert res.kept_images == len(IMAGES) - 1 and (out / "masks/101_2.png").is_symlink()


def owned_tree(folder: Path) -> list[str]:
    return sorted(_snapshot(folder))


@pytest.mark.parametrize("name", ["*", "[ab]", "gl?b"])
def test_glob_characters_in_out_touch_no_other_export(world, watch, name):
    """`--out "gl/*"` used to delete every export's temporary folder in gl/ (and move another
    export's old folder into place)."""
    gl = world.exports / "gl"
    others = {}
    for other in (".a.tmp-abcd1234", ".b.old-x1", ".glob.tmp-zz", ".ab.tmp-q1"):
        (gl / other).mkdir(parents=True)
        (gl / other / "work.txt").write_text(other)
        others[other] = watch(gl / other)
    res = export(world.dataset(), NONE, gl / name)
    assert res.out_dir == gl / name and (gl / name / "manifest.csv").is_file()
    assert sorted(os.listdir(gl)) == sorted([*others, name, f".{name}.lock"])
    for w in others.values():
        w.assert_unchanged()


def test_leftover_temp_folder_with_user_files_is_left_alone(world, watch):
    """Only leftovers their own record proves ours are removed."""
    out = world.exports / "clean"
    _export(world, out)
    stray = world.exports / ".clean.tmp-abcd1234"
    stray.mkdir()
    (stray / "draft.txt").write_text("mine")
    forged = world.exports / ".clean.old-ffff0000"
    forged.mkdir()
    (forged / "draft.txt").write_text("mine")
    (forged / "written.json").write_text(json.dumps(
        {"tool": "workbench export", "format": 1, "complete": True, "target": str(out),
         "entries": {"draft.txt": {"kind": "file"}}}))  # fmt: skip
    watched = [watch(stray), watch(forged)]
    _export(world, out, "copy")
    for w in watched:
        w.assert_unchanged()


def test_folders_and_files_follow_the_umask(world):
    old = os.umask(0o027)
    try:
        res = _export(world, world.exports / "clean", "copy")
    finally:
        os.umask(old)
    out = res.out_dir
    assert oct(out.stat().st_mode & 0o777) == oct(0o750)
    assert oct((out / "train").stat().st_mode & 0o777) == oct(0o750)
    assert oct((out / "manifest.csv").stat().st_mode & 0o777) == oct(0o640)
    assert oct((out / FIRST).stat().st_mode & 0o777) == oct(0o640)


def test_disk_full_names_the_path_and_keeps_the_old_export(world, monkeypatch):
    from curation import owned

    out = world.exports / "clean"
    _export(world, out)
    before = _snapshot(out)
    real_write = owned._write_all
    calls = []

    def full(fd, data):
        calls.append(len(data))
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fd, data)

    monkeypatch.setattr(owned, "_write_all", full)
    with pytest.raises(ExportError) as err:
        _export(world, out, "copy")
    assert re.fullmatch(
        rf"no space left on the device while writing {re.escape(str(out.parent))}/"
        r"\.clean\.tmp-\w+/masks/101_2\.png; free space or choose another --out",
        str(err.value),
    ), str(err.value)
    assert _snapshot(out) == before
    assert sorted(os.listdir(world.exports)) == [".clean.lock", "clean"]


def _tmpfs_script(world: World, mnt: Path) -> str:
    return f"""
set -e
mount -t tmpfs -o size=256k none {mnt}
{sys.executable} -m workbench.cli export --data {world.data} --out {mnt}/out >/dev/null
{sys.executable} -c 'import json, sys; from tests.adversarial.conftest import _snapshot; \
json.dump(_snapshot(__import__("pathlib").Path("{mnt}")), open("{mnt}.before", "w"))'
{sys.executable} -m workbench.cli export --data {world.data} --out {mnt}/out --layout copy \
  > {mnt}.stdout 2>&1 || echo "rc=$?" >> {mnt}.stdout
{sys.executable} -c 'import json, sys; from tests.adversarial.conftest import _snapshot; \
json.dump(_snapshot(__import__("pathlib").Path("{mnt}")), open("{mnt}.after", "w"))'
"""


def test_disk_full_on_a_real_small_file_system(world):
    """A 256 KB tmpfs in a private mount namespace: the copy export does not fit."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare not available")
    for i, (img, *_rest) in enumerate(IMAGES):  # photos too big for 256 KB together
        write_image(world.data / img, seed=i, size=(256, 256))
    mnt = world.base / "small"
    mnt.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_THREADS": "1"}
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", _tmpfs_script(world, mnt)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0 and "mount" in proc.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    out = (mnt.parent / "small.stdout").read_text()
    assert "Traceback" not in out and "rc=1" in out, out
    pattern = (
        rf"Error: no space left on the device while writing {re.escape(str(mnt))}/"
        r"\.out\.tmp-\w+/\S+; free space or choose another --out"
    )
    assert re.search(pattern, out), out
    before = json.loads((mnt.parent / "small.before").read_text())
    after = json.loads((mnt.parent / "small.after").read_text())
    assert after == before  # the old export intact, the temporary folder gone


# -- the compare report folder ---------------------------------------------------------------


def _comparison(v: int):
    from explain.compare.comparison import Comparison

    empty = pd.DataFrame()
    return Comparison(empty, empty, empty, empty, empty, empty, queries=[], columns=[],
                      meta={"v": v})  # fmt: skip


REPORT_REFUSE = "refusing to replace it; move them out or choose another --out"


def _report_case(base: Path, case: str) -> tuple[Path, str]:
    from explain.compare.report import write_report

    out = base / "report"
    if case == "report-out-holds-user-files":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        return out, (f"{out} is not empty and holds no earlier report (no written.json); "
                     "refusing to replace its 1 entry (notes.txt); move them out or choose "
                     "another --out")  # fmt: skip
    if case == "report-forged-comparison-json":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        (out / "comparison.json").write_text("{}")
        return out, (f"{out} is not empty and holds no earlier report (no written.json); "
                     "refusing to replace its 2 entries (comparison.json, notes.txt); move them "
                     "out or choose another --out")  # fmt: skip
    if case == "earlier-report-plus-user-files":
        write_report(_comparison(1), out)
        (out / "notes.txt").write_text("mine")
        return out, (f"{out} holds 1 entry (notes.txt) that `workbench compare` did not write "
                     f"there or that changed since; {REPORT_REFUSE}")  # fmt: skip
    if case == "report-out-is-a-link":
        (base / "elsewhere").mkdir()
        os.symlink(base / "elsewhere", out)
        return out, (f"{out} is a symbolic link (to {base / 'elsewhere'}); give a real folder as "
                     "--out, not a link")  # fmt: skip
    if case == "report-out-is-a-file":
        out.write_text("a file")
        return out, f"{out} exists and is not a folder; choose another --out"
    raise AssertionError(case)


REPORT_CASES = [
    "report-out-holds-user-files",
    "report-forged-comparison-json",
    "earlier-report-plus-user-files",
    "report-out-is-a-link",
    "report-out-is-a-file",
]


@pytest.mark.parametrize("case", REPORT_CASES)
def test_report_folder_with_what_it_did_not_write_is_refused(tmp_path, watch, case):
    from explain.compare.report import ReportError, write_report

    out, message = _report_case(tmp_path, case)
    watched = watch(tmp_path)
    with pytest.raises(ReportError) as err:
        write_report(_comparison(2), out)
    assert str(err.value) == message
    watched.assert_unchanged()


def test_report_replaces_its_own_earlier_report(tmp_path):
    from explain.compare.report import write_report

    old = os.umask(0o022)
    try:
        write_report(_comparison(1), tmp_path / "report")
        report = write_report(_comparison(2), tmp_path / "report")
    finally:
        os.umask(old)
    assert json.loads((tmp_path / "report" / "comparison.json").read_text())["v"] == 2
    assert oct((tmp_path / "report").stat().st_mode & 0o777) == oct(0o755)
    assert report == tmp_path / "report" / "report.html"
    assert sorted(os.listdir(tmp_path)) == [".report.lock", "report"]


def test_cli_compare_refuses_a_folder_with_user_files_before_computing(tmp_path, watch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for d in ("a", "b", "data"):
        (tmp_path / d).mkdir()
    watched = watch(tmp_path)
    proc = workbench("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--data",
                     str(tmp_path / "data"), "--out", str(out))  # fmt: skip
    assert_clean_error(proc, f"{out} is not empty and holds no earlier report (no written.json)",
                       "notes.txt")  # fmt: skip
    watched.assert_unchanged()


# -- train --overwrite -----------------------------------------------------------------------

TINY = {"arch": "osnet_x0_25", "height": 64, "width": 32, "epochs": 1, "save_at": (1,),
        "batch_size": 4, "num_instances": 2, "augment": ()}  # fmt: skip


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = tmp_path / "small"
    for post in range(3):
        for photo in (1, 2):
            write_image(root / "train" / f"{100 + post}_{photo}.jpg", seed=post * 10 + photo)
    return root


def _trained(small: Path, out: Path):
    from curation.dataset import load_folder
    from workbench.train import Recipe, train

    return train(load_folder(small), out, Recipe(**TINY), evaluate=False, threads=1)


OVERWRITE = ("that `workbench train` did not write there or that changed since (written.json "
             "lists what it wrote; series trained before it have none); --overwrite removes only "
             "recorded checkpoints; move them out or choose another --out")  # fmt: skip


def _series_case(small: Path, out: Path, case: str) -> tuple[bool, str]:
    """Build the series folder of one case; returns (overwrite, expected message)."""
    if case == "overwrite-with-user-notes":
        _trained(small, out)
        (out / "NOTES.txt").write_text("mine")
        return True, f"{out} holds 1 entry (NOTES.txt) {OVERWRITE}"
    if case == "overwrite-with-user-checkpoint":
        _trained(small, out)
        (out / "model.pth.tar-60").write_bytes(b"weights of a week")
        return True, f"{out} holds 1 entry (model.pth.tar-60) {OVERWRITE}"
    if case == "overwrite-recorded-checkpoint-changed":
        _trained(small, out)
        (out / "model.pth.tar-1").write_bytes(b"weights of a week")
        return True, f"{out} holds 1 entry (model.pth.tar-1 (changed)) {OVERWRITE}"
    if case == "overwrite-forged-record":
        out.mkdir()
        (out / "model.pth.tar-60").write_bytes(b"weights of a week")
        (out / "written.json").write_text(json.dumps(
            {"tool": "workbench train", "format": 1, "complete": True,
             "entries": {"model.pth.tar-60": {"kind": "file", "pending": True}}}))  # fmt: skip
        return True, f"{out} holds 1 entry (model.pth.tar-60 (changed)) {OVERWRITE}"
    if case == "overwrite-series-without-record":
        out.mkdir()
        (out / "model.pth.tar-60").write_bytes(b"weights of a week")
        (out / "recipe.json").write_text(json.dumps({"recipe": {"epochs": 60}}))
        return True, f"{out} holds 2 entries (model.pth.tar-60, recipe.json) {OVERWRITE}"
    if case == "train-over-a-foreign-recipe":
        out.mkdir()
        (out / "recipe.json").write_text("my recipe")
        return False, (f"{out} holds 1 entry (recipe.json) that `workbench train` did not write "
                       "there; training would overwrite what is there; move them out or choose "
                       "another --out")  # fmt: skip
    if case == "train-over-an-export-record":
        out.mkdir()
        (out / "written.json").write_text(
            json.dumps({"tool": "workbench export", "format": 1, "entries": {}})
        )
        return True, (f"{out}: written.json is not a record of `workbench train` (tool "
                      "'workbench export'); training there would replace it; choose another "
                      "--out")  # fmt: skip
    raise AssertionError(case)


SERIES_CASES = ["overwrite-with-user-notes", "overwrite-with-user-checkpoint",
                "overwrite-recorded-checkpoint-changed", "overwrite-forged-record",
                "overwrite-series-without-record", "train-over-a-foreign-recipe",
                "train-over-an-export-record"]  # fmt: skip


@pytest.mark.parametrize("case", SERIES_CASES)
def test_train_removes_only_what_the_series_recorded(small, tmp_path, watch, case):
    from curation.dataset import load_folder
    from workbench.train import Recipe, TrainingError, train

    out = tmp_path / "series"
    overwrite, message = _series_case(small, out, case)
    watched = watch(out)
    with pytest.raises(TrainingError) as err:
        train(load_folder(small), out, Recipe(**TINY), overwrite=overwrite, evaluate=False)
    assert str(err.value) == message
    watched.assert_unchanged()


def test_overwrite_replaces_a_recorded_series(small, tmp_path):
    out = tmp_path / "series"
    first = _trained(small, out)
    rec = json.loads((out / "written.json").read_text())
    assert set(rec["entries"]) == {"model.pth.tar-1", "recipe.json", "train_log.csv"}
    ckpt = rec["entries"]["model.pth.tar-1"]
    assert ckpt == {"kind": "file", "size": first.checkpoints[0].stat().st_size,
                    "sha256": _sha(first.checkpoints[0])}  # fmt: skip
    assert rec["entries"]["train_log.csv"]["grows"] is True
    from curation.dataset import load_folder
    from workbench.train import Recipe, train

    recipe = Recipe(**{**TINY, "epochs": 2, "save_at": (2,)})
    train(load_folder(small), out, recipe, overwrite=True, evaluate=False, threads=1)
    assert sorted(os.listdir(out)) == ["model.pth.tar-2", "recipe.json", "train_log.csv",
                                       "written.json"]  # fmt: skip


def test_cli_train_overwrite_with_user_files_is_refused(small, tmp_path, watch):
    out = tmp_path / "series"
    out.mkdir()
    (out / "model.pth.tar-60").write_bytes(b"weights of a week")
    (out / "NOTES.txt").write_text("mine")
    watched = watch(out)
    proc = workbench("train", "--data", str(small), "--out", str(out), "--overwrite",
                     "--epochs", "1", "--batch-size", "8")  # fmt: skip
    assert_clean_error(proc, f"{out} holds 2 entries (NOTES.txt, model.pth.tar-60) {OVERWRITE}")
    watched.assert_unchanged()


# -- --heatmaps ------------------------------------------------------------------------------


def test_heatmaps_are_matched_by_name_not_as_patterns(tmp_path):
    """Image names are not glob patterns, and 201_12's maps are not 201_1's."""
    from workbench.commands.export import _heatmaps

    maps = tmp_path / "maps"
    for name in (
        "[2]_1_gradcam.png",
        "2_1_gradcam.png",
        "201_1_gradcam.png",
        "201_1.png",
        "201_12_gradcam.png",
        "201_1e3.png",
    ):
        write_image(maps / "query" / name)  # fmt: skip
    tags = pd.DataFrame({"image": ["query/[2]_1.png", "query/201_1.jpg", "query/404_1.jpg"]})
    found = _heatmaps(maps, tags)
    assert {k: [p.name for p in v] for k, v in found.items()} == {
        "query/[2]_1.png": ["[2]_1_gradcam.png"],
        "query/201_1.jpg": ["201_1.png", "201_1_gradcam.png"],
    }


def test_heatmap_link_out_of_the_heatmaps_folder_is_refused(tmp_path):
    import click

    from workbench.commands.export import _heatmaps

    maps = tmp_path / "maps"
    write_image(tmp_path / "secret.png")
    (maps / "query").mkdir(parents=True)
    os.symlink(tmp_path / "secret.png", maps / "query" / "201_1_gradcam.png")
    with pytest.raises(click.ClickException) as err:
        _heatmaps(maps, pd.DataFrame({"image": ["query/201_1.jpg"]}))
    assert err.value.message == (
        f"heatmap {maps / 'query/201_1_gradcam.png'} leads outside --heatmaps {maps} (a "
        f"symbolic link to {tmp_path / 'secret.png'}); heatmaps are read only from inside that "
        "folder"
    )


@pytest.mark.parametrize(
    ("rel", "why"),
    [("../victim/x.txt", "climbs out with '..'"), ("a/../../x.txt", "climbs out with '..'"),
     ("/etc/x.txt", "is an absolute path"), ("", "is empty"),
     ("a\x00b", "contains a NUL character")],
)  # fmt: skip
def test_staging_writes_only_inside_its_folder(tmp_path, watch, rel, why):
    """The last line of defence, below the export's own checks."""
    from curation.owned import FolderError, Staging

    (tmp_path / "stage").mkdir()
    (tmp_path / "victim").mkdir()
    watched = watch(tmp_path / "victim")
    st = Staging(tmp_path / "stage")
    with pytest.raises(FolderError) as err:
        st.write_bytes(rel, b"x")
    assert str(err.value) == f"{rel!r}: {why}; cannot write it inside {tmp_path / 'stage'}"
    watched.assert_unchanged()


def test_staging_never_follows_a_link_planted_among_its_folders(tmp_path, watch):
    from curation.owned import FolderError, Staging

    stage, victim = tmp_path / "stage", tmp_path / "victim"
    stage.mkdir()
    victim.mkdir()
    watched = watch(victim)
    st = Staging(stage)
    st.write_bytes("sub/a.txt", b"mine")  # creates sub/ itself
    os.rename(stage / "sub", tmp_path / "moved")
    os.symlink(victim, stage / "sub")  # swapped for a link after it was made
    with pytest.raises(FolderError) as err:
        st.write_bytes("sub/b.txt", b"x")
    assert str(err.value) == f"sub/b.txt: its folder leaves {stage} through a link"
    os.symlink(victim, stage / "other")
    with pytest.raises(FolderError) as err:
        st.write_bytes("other/c.txt", b"x")
    assert str(err.value) == "other/c.txt: other is a file or link, not a folder"
    with pytest.raises(FolderError) as err:
        st.link("other", victim)
    assert str(err.value) == "other: written twice (two entries claim that path)"
    watched.assert_unchanged()


def test_without_syncfs_every_file_and_folder_is_fsynced(world, monkeypatch):
    from curation import replace

    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(replace, "_libc", lambda: object())  # no syncfs here
    monkeypatch.setattr(os, "fsync", fsync)
    res = _export(world, world.exports / "clean", "copy")
    tmp = Path(synced[0]).parent  # the first record written in the temporary folder
    flushed = {os.path.relpath(p, tmp) for p in synced if p.startswith(str(tmp))}
    entries = json.loads((res.out_dir / "written.json").read_text())["entries"]
    assert set(entries) | {".", ".written.json.new"} <= flushed  # the record, before its rename
