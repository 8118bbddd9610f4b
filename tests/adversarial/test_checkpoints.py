"""Hostile and careless checkpoints, recipes and numbers.

Every case builds its bad input under ``tmp_path`` and asserts the exact message (naming the
file, the field, the value and the allowed range), that nothing was written where it should
not be, and, for the inputs that used to take the machine, that a run with a 3 GB heap cap is
refused before anything large is allocated.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from explain.models.adapter import build_model
from explain.models.checkpoints import (
    CheckpointError,
    UnsafeCheckpointError,
    describe,
    read_checkpoint,
)
from explain.models.limits import LimitError, max_side
from explain.models.series import load_series
from tests.adversarial.conftest import assert_clean_error, workbench
from tests.conftest import write_image
from workbench.cli import main
from workbench.recipe import TrainingError, read_recipe

SD = {"w": torch.arange(4, dtype=torch.float32)}
HINT = " (input sides are capped by WORKBENCH_MAX_SIDE, default 1024 pixels)"
REFUSED = ". The file is refused; re-save it with a correct '{key}'"
POINT = "point at a model.pth.tar-N / .pth file"


def save(path: Path, **entries) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": SD, **entries}, path)
    return path


# --------------------------------------------------------------------------- crafted archives


class _Storage:
    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles as torch's ``_rebuild_tensor_v2(storage, 0, shape, stride, ...)``."""

    def __init__(self, storage: _Storage, shape: tuple, stride: tuple):
        self.storage, self.shape, self.stride = storage, shape, stride

    def __reduce__(self):
        args = (self.storage, 0, self.shape, self.stride, False, collections.OrderedDict())
        return (torch._utils._rebuild_tensor_v2, args)


class _Pickler(pickle.Pickler):
    legacy = False

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            pid = ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return (*pid, None) if self.legacy else pid
        return None


def _pickled(numel: int, shape: tuple, stride: tuple, legacy: bool) -> bytes:
    buf = io.BytesIO()
    pickler = _Pickler(buf, protocol=2)
    pickler.legacy = legacy
    pickler.dump({"state_dict": {"w": _Tensor(_Storage("0", numel), shape, stride)}, "epoch": 1})
    return buf.getvalue()


def crafted_zip(path: Path, numel: int, held: int = 16, shape=None, stride=None) -> Path:
    """torch's zip format whose one storage declares ``numel`` floats but holds ``held`` bytes."""
    shape = shape or (numel,)
    stride = stride or (1,) * len(shape)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", _pickled(numel, shape, stride, legacy=False))
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b"\0" * held)
        z.writestr("archive/version", "3\n")
    return path


def crafted_legacy(path: Path, numel: int, held: int = 16) -> Path:
    """torch's legacy pickle format, one storage declaring ``numel`` floats, ``held`` bytes."""
    buf = io.BytesIO()
    for value in (
        0x1950A86A20F9469CFC6C,
        1001,
        {
            "protocol_version": 1001,
            "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4},
        },
    ):
        pickle.dump(value, buf, protocol=2)  # fmt: skip
    buf.write(_pickled(numel, (numel,), (1,), legacy=True))
    pickle.dump(["0"], buf, protocol=2)
    buf.write(struct.pack("<q", numel) + b"\0" * held)
    path.write_bytes(buf.getvalue())
    return path


def test_crafted_archives_are_real_torch_files(tmp_path):
    """The builders write files torch reads, when what they declare is what they hold."""
    for build in (crafted_zip, crafted_legacy):
        path = build(tmp_path / f"{build.__name__}.pth", 4)
        w = torch.load(path, weights_only=True)["state_dict"]["w"]
        assert torch.equal(w, torch.zeros(4))
        assert read_checkpoint(path)["epoch"] == 1


class Payload:
    """Unpickling this creates ``target``."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


# --------------------------------------------------------------------------- files


def _text(d: Path) -> tuple[Path, str]:
    notes = d / "notes.txt"
    notes.write_text("these are my notes about the run\nepoch 60 was best\n")
    link = d / "model.pth.tar-1"
    link.symlink_to(notes)
    return link, (
        f"{link} (a link to {os.path.realpath(notes)}): a text file, not a PyTorch checkpoint "
        f"(it begins with 'these are my notes about the run'); {POINT}"
    )


def _empty(d: Path):
    p = d / "model.pth.tar-2"
    p.write_bytes(b"")
    return p, (
        f"{p}: the file is empty (0 bytes), perhaps an interrupted copy or save; copy the "
        "checkpoint again"
    )


def _folder(d: Path):
    p = d / "model.pth.tar-3"
    p.mkdir()
    return p, (
        f"{p}: a folder, not a checkpoint file; a checkpoint is one file such as "
        "model.pth.tar-60 (move the folder out of the series, or point at the file in it)"
    )


def _dangling(d: Path):
    p = d / "model.pth.tar-4"
    p.symlink_to(d / "gone.pth")
    return (
        p,
        f"{p}: a symbolic link to {d / 'gone.pth'}, which does not exist; fix or remove the link",
    )


def _loop(d: Path):
    p = d / "model.pth.tar-5"
    p.symlink_to(d / "model.pth.tar-5b")
    (d / "model.pth.tar-5b").symlink_to(p)
    return p, "cannot be opened (Too many levels of symbolic links)"


def _zip(d: Path):
    p = d / "model.pth.tar-6"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("photos/cat.jpg", b"\xff\xd8 not really")
        z.writestr("README", "holiday photos")
    return p, (
        f"{p}: a zip archive, but not a PyTorch checkpoint (no data.pkl; it holds "
        f"photos/cat.jpg, README); {POINT}"
    )


def _torchscript(d: Path):
    import warnings

    p = d / "model.pth.tar-7"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(p))
    return p, (
        f"{p}: a TorchScript archive (torch.jit.save), not a checkpoint; save the weights with "
        "torch.save({'state_dict': model.state_dict()}, ...)"
    )


def _binary(d: Path):
    p = d / "model.pth.tar-8"
    p.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    return p, (
        f"{p}: not a PyTorch checkpoint (unknown format; it begins with bytes "
        f"7f 45 4c 46 02 01 01 00); {POINT}"
    )


def _huge_zip(d: Path):
    p = crafted_zip(d / "model.pth.tar-9", 10_000_000_000)
    return p, (
        f"{p}: truncated, corrupt or crafted checkpoint: tensor storage 0 declares 40.0 GB but "
        "the archive holds 16 bytes for it; refused before allocating anything (copy the file "
        "again)"
    )


def _huge_legacy(d: Path):
    p = crafted_legacy(d / "model.pth.tar-10", 10_000_000_000)
    return p, (
        f"{p}: truncated, corrupt or crafted checkpoint: its tensors declare 40.0 GB but the "
        f"file holds {p.stat().st_size} bytes; refused before allocating anything (copy the "
        "file again)"
    )


def _huge_view(d: Path):
    p = crafted_zip(d / "model.pth.tar-11", 1, held=4, shape=(10**6, 10**6), stride=(0, 0))
    return p, (
        f"{p}: corrupt or crafted checkpoint: tensor 'w' declares shape (1000000, 1000000) "
        f"(1,000,000,000,000 values) but the whole file is {p.stat().st_size:,} bytes; refused"
    )


def _truncated(d: Path):
    p = save(d / "model.pth.tar-12", epoch=12)
    p.write_bytes(p.read_bytes()[:300])
    return p, f"{p}: truncated or corrupt zip archive ("


FILES = {
    "symlink-to-text": _text,
    "empty": _empty,
    "directory": _folder,
    "dangling-symlink": _dangling,
    "symlink-loop": _loop,
    "zip-not-torch": _zip,
    "torchscript": _torchscript,
    "binary": _binary,
    "absurd-storage-zip": _huge_zip,
    "absurd-storage-legacy": _huge_legacy,
    "absurd-zero-stride-view": _huge_view,
    "truncated-zip": _truncated,
}


@pytest.mark.parametrize("case", FILES, ids=list(FILES))
def test_unusable_file_gets_a_message_naming_it(case, tmp_path, watch):
    path, message = FILES[case](tmp_path)
    seen = watch(tmp_path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    text = str(info.value)
    if case in ("symlink-loop", "truncated-zip"):
        assert text.startswith(str(path)) and message in text, text
    else:
        assert text == message
    assert not isinstance(info.value, UnsafeCheckpointError)
    seen.assert_unchanged()


@pytest.mark.parametrize("kind", ["raw-pickle", "torch-with-payload"])
def test_code_running_pickles_stay_refused(kind, tmp_path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "model.pth.tar-1"
    if kind == "raw-pickle":
        path.write_bytes(pickle.dumps(Payload(target)))
        want = f"{path}: refused to load: not a PyTorch checkpoint but a raw pickle"
    else:
        torch.save({"state_dict": SD, "epoch": 1, "x": Payload(target)}, path)
        want = f"{path}: refused to load: the file asks for "
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value).startswith(want)
    assert not target.exists()


# --------------------------------------------------------------------------- numbers


def refused(key: str, shown: str, lo: int, hi: int) -> str:
    hint = HINT if key in ("height", "width") else ""
    return f"'{key}' is {shown}; expected a whole number in {lo}..{hi}{hint}" + REFUSED.format(
        key=key
    )


NUMBERS = {
    "height-60000": ({"height": 60000, "width": 128}, refused("height", "60000", 16, 1024)),
    "width-60000": ({"height": 256, "width": 60000}, refused("width", "60000", 16, 1024)),
    "height-text": ({"height": "256"}, refused("height", "'256' (str)", 16, 1024)),
    "height-zero": ({"height": 0}, refused("height", "0", 16, 1024)),
    "height-fraction": ({"height": 64.5}, refused("height", "64.5", 16, 1024)),
    "height-list": ({"height": [256]}, refused("height", "[256] (list)", 16, 1024)),
    "epoch-1e30": ({"epoch": 10**30}, refused("epoch", str(10**30), 0, 100000)),
    "epoch-text": ({"epoch": "abc"}, refused("epoch", "'abc' (str)", 0, 100000)),
    "epoch-negative": ({"epoch": -1}, refused("epoch", "-1", 0, 100000)),
    "epoch-bool": ({"epoch": True}, refused("epoch", "True (bool)", 0, 100000)),
    "epoch-fraction": ({"epoch": 2.5}, refused("epoch", "2.5", 0, 100000)),
    "epoch-numpy-1e30": ({"epoch": np.float64(1e30)}, refused("epoch", "1e+30", 0, 100000)),
    "epoch-tensor-vector": (
        {"epoch": torch.tensor([1, 2])},
        refused("epoch", "tensor([1, 2]) (Tensor)", 0, 100000),
    ),
    "num_classes-1e12": ({"num_classes": 10**12}, refused("num_classes", str(10**12), 1, 10**7)),
    "num_classes-text": ({"num_classes": "many"}, refused("num_classes", "'many' (str)", 1, 10**7)),
}


@pytest.mark.parametrize("case", NUMBERS, ids=list(NUMBERS))
def test_structural_number_out_of_range_refuses_the_file(case, tmp_path):
    entries, message = NUMBERS[case]
    path = save(tmp_path / "model.pth.tar-3", **entries)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == f"{path}: {message}"


INFO = {
    "rank1-inf": ({"rank1": float("inf")}, "'rank1' is inf"),
    "rank1-text": ({"rank1": "0.9"}, "'rank1' is '0.9' (str)"),
    "mAP-percent": ({"mAP": 85.0}, "'mAP' is 85.0"),
    "rank1-negative-numpy": ({"rank1": np.float32(-0.5)}, "'rank1' is -0.5"),
}


@pytest.mark.parametrize("case", INFO, ids=list(INFO))
def test_bad_informational_metric_is_dropped_with_a_warning(case, tmp_path):
    entries, shown = INFO[case]
    path = save(tmp_path / "model.pth.tar-3", epoch=3, **entries)
    ckpt = read_checkpoint(path)
    key = next(iter(entries))
    assert key not in ckpt and ckpt["epoch"] == 3
    assert ckpt["warnings"] == [
        f"{path}: {shown}, not a fraction in [0, 1] (or NaN); ignored, the stored metric is "
        "shown as '-'"
    ]


def test_arch_that_is_not_a_name_is_ignored_with_a_warning(tmp_path):
    path = save(tmp_path / "model.pth.tar-3", arch=5)
    ckpt = read_checkpoint(path)
    assert "arch" not in ckpt
    assert ckpt["warnings"] == [
        f"{path}: 'arch' is 5, not an architecture name; ignored, the architecture is inferred "
        "from the weights"
    ]


def test_numpy_scalars_tensors_and_nan_metrics_are_good_values(tmp_path):
    path = save(tmp_path / "model.pth.tar-12", epoch=np.int64(12), height=np.int32(64),
                width=torch.tensor(32), rank1=np.float32(0.5), mAP=float("nan"),
                num_classes=np.int64(5))  # fmt: skip
    ckpt = read_checkpoint(path)
    assert (ckpt["epoch"], ckpt["height"], ckpt["width"], ckpt["num_classes"]) == (12, 64, 32, 5)
    assert all(type(ckpt[k]) is int for k in ("epoch", "height", "width", "num_classes"))
    assert ckpt["rank1"] == 0.5 and type(ckpt["rank1"]) is float and np.isnan(ckpt["mAP"])
    assert ckpt["warnings"] == []
    whole = save(tmp_path / "model.pth.tar-7", epoch=7.0)
    assert read_checkpoint(whole)["epoch"] == 7


def test_absurd_epoch_in_the_file_name(tmp_path):
    path = tmp_path / "model.pth.tar-99999999999999"
    torch.save(SD, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == (
        f"{path}: the file name gives epoch 99999999999999, outside 0..100000, and the file "
        "stores no epoch; rename the file (e.g. model.pth.tar-60)"
    )


def test_input_size_cap_is_one_setting(tmp_path, monkeypatch):
    path = save(tmp_path / "model.pth.tar-1", height=1500, width=128)
    with pytest.raises(CheckpointError, match=r"'height' is 1500; expected .* 16\.\.1024"):
        read_checkpoint(path)
    monkeypatch.setenv("WORKBENCH_MAX_SIDE", "2048")
    assert max_side() == 2048 and read_checkpoint(path)["height"] == 1500
    monkeypatch.setenv("WORKBENCH_MAX_SIDE", "abc")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == (
        f"{path}: cannot be checked: WORKBENCH_MAX_SIDE='abc' is not a whole number; set it to "
        "the largest input side in pixels (16..16384) or unset it for 1024"
    )
    monkeypatch.setenv("WORKBENCH_MAX_SIDE", "100000")
    with pytest.raises(LimitError, match=r"WORKBENCH_MAX_SIDE=100000 lies outside 16\.\.16384"):
        max_side()


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    "bad, what",
    [(float("nan"), "2 NaN"), (float("inf"), "2 infinite"), (None, "2 NaN and infinite")],
    ids=["nan", "inf", "nan-and-inf"],
)
def test_broken_weights_refuse_the_file_naming_the_first_bad_tensor(bad, what, tmp_path):
    w = torch.arange(6, dtype=torch.float32)
    if bad is None:
        w[1], w[4] = float("nan"), float("-inf")
    else:
        w[1] = w[4] = bad
    path = tmp_path / "model.pth.tar-9"
    torch.save({"state_dict": {"ok": torch.ones(3), "conv.weight": w, "later": w.clone()},
                "epoch": 9}, path)  # fmt: skip
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == (
        f"{path}: weights are broken: tensor 'conv.weight' holds {what} value(s) of 6 (training "
        "diverged?); it would give NaN embeddings and empty heatmaps. Use an earlier checkpoint "
        "of the series"
    )


def test_nan_model_gives_no_map_from_activation_or_eigencam():
    """A model with NaN weights that never came from a file: the heatmap guard refuses it."""
    from explain.heatmaps import compute
    from explain.heatmaps.base import HeatmapContractError
    from explain.heatmaps.targets import SelfSimilarity
    from tests.models import one_conv

    model = one_conv(0, 4)
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = float("nan")
    for method in ("activation", "eigencam"):
        with pytest.raises(HeatmapContractError) as info:
            compute(method, model, torch.rand(1, 3, 16, 8), SelfSimilarity(), layer="1")
        assert str(info.value) == (
            f"heatmap method '{method}': the target's value on the image is nan: the model's "
            "output is not finite, so no map can mean anything (NaN/Inf weights? check the "
            "checkpoint with `workbench checkpoints`)"
        )


# --------------------------------------------------------------------------- series


@pytest.fixture(scope="module")
def osnet_state() -> dict:
    torch.manual_seed(0)
    return build_model("osnet_x0_25", 3).state_dict()


def real(path: Path, state: dict, **entries) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "height": 64, "width": 32, **entries}, path)
    return path


@pytest.mark.parametrize("case", ["directory", "dangling-symlink", "empty"])
def test_series_with_an_unusable_entry_is_refused_naming_it(case, tmp_path, osnet_state):
    """load_series sees every matching entry; plain discover() (the app's listing, batch
    precompute) keeps listing regular files only, so nothing there opens a pipe or a folder."""
    from explain.models.checkpoints import discover

    folder = tmp_path / "series"
    real(folder / "model.pth.tar-1", osnet_state, epoch=1)
    path, message = FILES[case](folder)
    with pytest.raises(CheckpointError) as info:
        load_series(folder, device="cpu")
    assert str(info.value) == message
    assert [f.path.name for f in discover(folder)] == (
        ["model.pth.tar-1", path.name] if case == "empty" else ["model.pth.tar-1"]
    )
    assert path in [f.path for f in discover(folder, unusable=True)]


def test_two_different_files_claiming_one_epoch_are_refused(tmp_path, osnet_state):
    folder = tmp_path / "series"
    real(folder / "model.pth.tar-60", osnet_state, epoch=60)
    other = {k: v + 1 if v.is_floating_point() else v for k, v in osnet_state.items()}
    real(folder / "model_final.pth", other, epoch=60)
    message = (
        f"{folder}: 2 different files claim epoch 60 (model.pth.tar-60, model_final.pth); a "
        "series has one checkpoint per epoch: move all but one out of the folder, or re-save "
        "them with their true epochs"
    )
    with pytest.raises(CheckpointError) as info:
        load_series(folder, device="cpu")
    assert str(info.value) == message
    result = CliRunner().invoke(main, ["checkpoints", str(folder)])
    assert result.exit_code == 1
    assert f"error: {message}" in result.stderr
    assert result.stdout.count("   60  ") == 2  # both rows stay listed, the problem after them


def test_copies_are_listed_once_with_a_warning(tmp_path, osnet_state):
    folder = tmp_path / "series"
    kept = real(folder / "model.pth.tar-60", osnet_state, epoch=60)
    best = folder / "model-best.pth.tar"
    best.write_bytes(kept.read_bytes())  # what torchreid's save_checkpoint(is_best=True) does
    series = load_series(folder, device="cpu")
    assert [m.path.name for m in series] == ["model.pth.tar-60"]
    note = (
        f"{best}: a copy of model.pth.tar-60 (same content, epoch 60); listed once, as "
        "model.pth.tar-60"
    )
    assert series.warnings == [note]
    result = CliRunner().invoke(main, ["checkpoints", str(folder)])
    assert result.exit_code == 0 and f"warning: {note}" in result.stderr
    assert "copy of model.pth.tar-60" in result.stdout


def test_name_and_stored_epoch_differ(tmp_path, osnet_state):
    folder = tmp_path / "series"
    path = real(folder / "model.pth.tar-60", osnet_state, epoch=30)
    note = (
        f"{path}: the file name says epoch 60 but the file stores epoch 30; shown as epoch 30 "
        "(rename the file if the stored epoch is right)"
    )
    assert describe(path)["warnings"] == [note]
    series = load_series(folder, device="cpu")
    assert [m.epoch for m in series] == [30] and series.warnings == [note]
    result = CliRunner().invoke(main, ["checkpoints", str(folder)])
    assert result.exit_code == 0 and f"warning: {note}" in result.stderr
    data = tmp_path / "data"
    for i, split in enumerate(["query/201_1.jpg", "gallery/201_2.jpg", "gallery/202_1.jpg"]):
        write_image(data / split, seed=i)
    result = CliRunner().invoke(main, ["evaluate", "--data", str(data), "--checkpoints",
                                       str(folder), "--no-cache", "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"warning: {note}" in result.stderr and "epoch 30" in result.stdout


# --------------------------------------------------------------------------- recipes


def field(name: str, shown: str, expected: str) -> str:
    return f"field '{name}' is {shown}; expected {expected}"


RANGE = "a whole number in {}"
EPOCH_LIST = "a list of whole numbers in 1..1000, e.g. [3, 12, 30, 60]"
SIDE = "a whole number in 16..1024 (capped by WORKBENCH_MAX_SIDE)"
RECIPES = {
    "save_at-text": ({"save_at": "abc"}, field("save_at", "'abc' (str)",
                                               "a list, e.g. [3, 12, 30, 60]")),
    "save_at-zero": ({"save_at": [0]}, field("save_at", "[0] (list)", EPOCH_LIST)),
    "save_at-fraction": ({"save_at": [3.5]}, field("save_at", "[3.5] (list)", EPOCH_LIST)),
    "save_at-beyond-epochs": ({"epochs": 2, "save_at": [5]},
                              "--save-at [5] lies outside 1..2; save only epochs that are trained"),
    "height-100000": ({"height": 100000}, field("height", "100000", SIDE)),
    "width-100000": ({"width": 100000}, field("width", "100000", SIDE)),
    "epochs-1e9": ({"epochs": 10**9}, field("epochs", "1000000000", RANGE.format("1..1000"))),
    "epochs-text": ({"epochs": "60"}, field("epochs", "'60' (str)", RANGE.format("1..1000"))),
    "epochs-fraction": ({"epochs": 60.5}, field("epochs", "60.5", RANGE.format("1..1000"))),
    "epochs-float": ({"epochs": 60.0}, field("epochs", "60.0", RANGE.format("1..1000"))),
    "epochs-null": ({"epochs": None}, field("epochs", "None (NoneType)", RANGE.format("1..1000"))),
    "batch_size-zero": ({"batch_size": 0}, field("batch_size", "0", RANGE.format("2..1024"))),
    "num_instances-zero": ({"num_instances": 0}, field("num_instances", "0",
                                                       RANGE.format("1..1024"))),
    "lr-negative": ({"lr": -1}, field("lr", "-1", "a number in 1e-08..10.0")),
    "lr-text": ({"lr": "fast"}, field("lr", "'fast' (str)", "a number in 1e-08..10.0")),
    "lr-nan": ({"lr": float("nan")}, field("lr", "nan", "a number in 1e-08..10.0")),
    "lr-inf": ({"lr": float("inf")}, field("lr", "inf", "a number in 1e-08..10.0")),
    "seed-2**40": ({"seed": 2**40}, field("seed", str(2**40), RANGE.format("0..4294967295"))),
    "seed-negative": ({"seed": -1}, field("seed", "-1", RANGE.format("0..4294967295"))),
    "augment-text": ({"augment": "random_flip"}, field("augment", "'random_flip' (str)",
                                                       'a list, e.g. ["random_flip"]')),
    "augment-unknown": ({"augment": ["rotate"]}, field(
        "augment", "['rotate'] (list)",
        "a list of random_flip, random_crop, color_jitter, random_gamma, artifact_erasing "
        "(unknown: ['rotate'])")),
    "optimizer-number": ({"optimizer": 5}, field(
        "optimizer", "5", "one of adam, amsgrad, sgd, rmsprop, radam, adamw")),
    "label_smooth-text": ({"label_smooth": "yes"}, field("label_smooth", "'yes' (str)",
                                                         "true or false")),
    "margin-negative": ({"triplet_margin": -0.3}, field("triplet_margin", "-0.3",
                                                        "a number in 0.0..10.0")),
    "no-loss": ({"weight_softmax": 0, "weight_triplet": 0},
                "weight_softmax and weight_triplet are both 0: nothing would be learned"),
    "unknown-field": ({"colour": "blue"}, "recipe has unknown field(s) ['colour']; the fields "
                      "are arch, augment, batch_size, epochs, height, label_smooth, lr, "
                      "num_instances, optimizer, save_at, scheduler, seed, triplet_margin, "
                      "triplet_normalize, weight_decay, weight_softmax, weight_triplet, width"),
}  # fmt: skip


def write_recipe(path: Path, fields: dict) -> Path:
    path.write_text(json.dumps({"recipe": fields, "losses": {}}))
    return path


@pytest.mark.parametrize("case", RECIPES, ids=list(RECIPES))
def test_recipe_field_of_wrong_type_or_range(case, tmp_path):
    fields, message = RECIPES[case]
    path = write_recipe(tmp_path / "recipe.json", fields)
    with pytest.raises(TrainingError) as info:
        read_recipe(path)
    assert str(info.value) == f"{path}: {message}"


def _raw(content: bytes | str):
    def make(d: Path) -> Path:
        p = d / "recipe.json"
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return p

    return make


NOT_A_RECIPE = "not a workbench recipe.json (no \"recipe\" object at the top level); give the " \
               "recipe.json written beside a series' checkpoints"  # fmt: skip
RECIPE_FILES = {
    "recipe-not-object": (_raw('{"recipe": [1, 2]}'), "'recipe' is [1, 2] (list), not an "
                          "object of fields"),
    "no-recipe-key": (_raw('{"arch": "osnet_x0_25"}'), NOT_A_RECIPE),
    "top-level-list": (_raw("[1, 2, 3]"), NOT_A_RECIPE),
    "invalid-json": (_raw("{not json"), "not valid JSON (Expecting property name enclosed in "
                     "double quotes at line 1, column 2)"),
    "not-utf8": (_raw(b"\xff\xfe\x00{"), "not UTF-8 text, so not a workbench recipe.json"),
    "deep-nesting": (_raw("[" * 100_000), "not a workbench recipe.json (maximum recursion "
                     "depth exceeded while decoding a JSON array from a unicode string)"),
    "too-large": (_raw('{"recipe": {}, "pad": "' + "x" * (2 << 20) + '"}'),
                  "2,097,177 bytes, larger than a recipe.json can be (1,048,576); give the "
                  "recipe.json of a trained series"),
    "directory": (lambda d: (d / "recipe.json").mkdir() or d / "recipe.json",
                  "a folder; give the recipe.json file of a trained series"),
    "missing": (lambda d: d / "absent.json", "cannot be read (No such file or directory); "
                "check the path"),
}  # fmt: skip


@pytest.mark.parametrize("case", RECIPE_FILES, ids=list(RECIPE_FILES))
def test_recipe_file_that_is_not_a_recipe(case, tmp_path):
    make, message = RECIPE_FILES[case]
    path = make(tmp_path)
    with pytest.raises(TrainingError) as info:
        read_recipe(path)
    assert str(info.value) == f"{path}: {message}"


def test_train_refuses_a_bad_recipe_before_writing_anything(tmp_path, watch):
    data = tmp_path / "data"
    for post in range(3):
        for photo in (1, 2):
            write_image(data / "train" / f"{100 + post}_{photo}.jpg", seed=post * 3 + photo)
    recipe = write_recipe(tmp_path / "recipe.json", {"save_at": "abc"})
    seen = watch(tmp_path)
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--out",
                                       str(tmp_path / "out"), "--recipe", str(recipe)])  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {recipe}: field 'save_at' is 'abc' (str); expected a list" in result.output
    seen.assert_unchanged()


# --------------------------------------------------------------------------- command-line numbers


RANGE_OF = "is not in the range"
# id -> (command, option as click names it, value, what click says after the value)
CLI = {
    "train-epochs-1e20": ("train", "--epochs", "100000000000000000000", "1<=x<=1000"),
    "train-epochs-zero": ("train", "--epochs", "0", "1<=x<=1000"),
    "train-batch-size-zero": ("train", "--batch-size", "0", "2<=x<=1024"),
    "train-lr-nan": ("train", "--lr", "nan", None),
    "train-lr-negative": ("train", "--lr", "-1", "1e-08<=x<=10.0"),
    "train-seed-negative": ("train", "--seed", "-1", "0<=x<=4294967295"),
    "train-seed-2**40": ("train", "--seed", str(2**40), "0<=x<=4294967295"),
    "train-threads-zero": ("train", "--threads", "0", "1<=x<=256"),
    "train-threads-1e6": ("train", "--threads", "1000000", "1<=x<=256"),
    "train-save-at-text": ("train", "--save-at", "3,abc", None),
    "train-save-at-huge": ("train", "--save-at", "3,100000000000000000000", None),
    "evaluate-k-zero": ("evaluate", "-k", "0", "1<=x<=1000"),
    "evaluate-k-1e9": ("evaluate", "-k", "1000000000", "1<=x<=1000"),
    "evaluate-threads-negative": ("evaluate", "--threads", "-2", "1<=x<=256"),
    "confidence-epoch-1e20": ("confidence", "--epoch", "1e20", None),
    "confidence-epoch-huge": ("confidence", "--epoch", "100000000000000000000", "0<=x<=100000"),
    "confidence-precision-nan": ("confidence", "--target-precision", "nan", None),
    "confidence-precision-2": ("confidence", "--target-precision", "2", "0.0<x<=1.0"),
    "confidence-bins-zero": ("confidence", "--bins", "0", "1<=x<=1000"),
    "suggest-k-zero": ("suggest", "-k", "0", "1<=x<=1000"),
    "suggest-epoch-negative": ("suggest", "--epoch", "-1", "0<=x<=100000"),
    "maps-window-zero": ("explain maps", "--window", "0", "1<=x<=16384"),
    "maps-stride-1e9": ("explain maps", "--stride", "1000000000", "1<=x<=16384"),
    "faithfulness-steps-zero": ("explain faithfulness", "--steps", "0", "1<=x<=1000"),
    "faithfulness-images-zero": ("explain faithfulness", "--images", "0", "1<=x<=1000"),
    "report-limit-negative": ("explain report", "--limit", "-5", "1<=x<=100000"),
    "report-randomisation-negative": (
        "explain report", "--randomisation-images", "-1", "0<=x<=1000"),
    "precompute-workers-zero": ("explain precompute", "--workers", "0", "1<=x<=256"),
    "precompute-workers-1e6": ("explain precompute", "--workers", "1000000", "1<=x<=256"),
    "precompute-batch-zero": ("explain precompute", "--batch-size", "0", "1<=x<=1024"),
    "precompute-limit-negative": ("explain precompute", "--limit", "-5", "1<=x<=100000"),
    "compare-queries-zero": ("compare", "--queries", "0", "1<=x<=1000"),
    "compare-limit-negative": ("compare", "--limit", "-1", "0<=x<=100000"),
    "compare-threads-zero": ("compare", "--threads", "0", "1<=x<=256"),
}  # fmt: skip
# what click says when the value does not parse (the cases with None above)
SAID = {
    "train-lr-nan": "'nan' is not a finite number.",
    "train-save-at-text": "'3,abc': give epochs as a comma list, e.g. 3,12,30,60",
    "train-save-at-huge": (
        "'3,100000000000000000000': give epochs in 1..1000 as a comma list, e.g. 3,12,30,60"
    ),
    "confidence-epoch-1e20": "'1e20' is not a valid integer range.",
    "confidence-precision-nan": "'nan' is not a finite number.",
}


def cli_args(command: str, option: str, value: str, tmp: Path) -> list[str]:
    """The command line with the bad option first and every required option given."""
    a, b = tmp / "a", tmp / "b"
    for d in (a, b):
        d.mkdir(exist_ok=True)
    image = write_image(tmp / "photo.jpg")
    required = {
        "train": ["--out", str(tmp / "out")],
        "explain maps": ["--checkpoints", str(a), "--image", str(image)],
        "explain precompute": ["--data", str(a), "--checkpoints", str(a)],
        "compare": [str(a), str(b)],
    }.get(command, ["--checkpoints", str(a)])
    return [*command.split(), option, value, *required]


@pytest.mark.parametrize("case", CLI, ids=list(CLI))
def test_absurd_command_line_number_is_a_usage_error(case, tmp_path, watch):
    command, option, value, bounds = CLI[case]
    args = cli_args(command, option, value, tmp_path)
    shown = SAID[case] if bounds is None else f"{value} {RANGE_OF} {bounds}."
    if bounds is not None and option in ("--lr", "--target-precision"):  # shown as parsed
        shown = f"{float(value)} {RANGE_OF} {bounds}."
    opt = "'-k' / '--top-k'" if option == "-k" else f"'{option}'"
    seen = watch(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"Error: Invalid value for {opt}: {shown}" in result.output
    seen.assert_unchanged()


# --------------------------------------------------------------------------- bounded memory


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("tiny") / "data"
    for post in range(3):
        for photo in (1, 2):
            write_image(data / "train" / f"{100 + post}_{photo}.jpg", seed=post * 3 + photo)
    write_image(data / "query" / "201_1.jpg", seed=50)
    write_image(data / "gallery" / "201_2.jpg", seed=51)
    write_image(data / "gallery" / "202_1.jpg", seed=52)
    return data


def test_60000_pixel_checkpoint_is_refused_under_a_3gb_cap(tmp_path, tiny_data, osnet_state):
    """Before: every image resized to 60000×60000 (10.8 GB each) and the kernel killed it."""
    path = real(tmp_path / "series" / "model.pth.tar-3", osnet_state, epoch=3)
    torch.save({"state_dict": osnet_state, "epoch": 3, "height": 60000, "width": 60000}, path)
    assert path.stat().st_size < 2_000_000  # a small file: the size is what it claims
    proc = workbench("evaluate", "--data", str(tiny_data), "--checkpoints", str(path.parent),
                     "--no-cache", memory_mb=3000, timeout=600)  # fmt: skip
    assert_clean_error(proc, f"{path}: {refused('height', '60000', 16, 1024)}")


def test_100000_pixel_recipe_is_refused_under_a_3gb_cap(tmp_path, tiny_data):
    """Before: training started and resized every photo to 100000×100000 (30 GB each)."""
    fits = {"batch_size": 4, "num_instances": 2, "epochs": 1, "save_at": [1]}  # the tiny data
    recipe = write_recipe(tmp_path / "recipe.json", {"height": 100000, "width": 100000, **fits})
    out = tmp_path / "out"
    proc = workbench("train", "--data", str(tiny_data), "--out", str(out), "--recipe",
                     str(recipe), memory_mb=3000, timeout=600)  # fmt: skip
    assert_clean_error(
        proc,
        f"{recipe}: field 'height' is 100000; expected a whole number in 16..1024 (capped by "
        "WORKBENCH_MAX_SIDE)",
    )
    assert not out.exists()


def _entries(folder: Path) -> dict[str, tuple[int, str]]:
    """Every entry's mode and, for regular files, content hash (the shared TreeWatch would
    open the named pipe and wait for a writer)."""
    import hashlib
    import stat

    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[p.relative_to(folder).as_posix()] = (st.st_mode, digest)
    return out


def test_absurd_storages_fifo_and_good_file_listed_under_a_3gb_cap(tmp_path, osnet_state):
    folder = tmp_path / "series"
    good = real(folder / "model.pth.tar-1", osnet_state, epoch=1)
    _, zip_message = _huge_zip(folder)
    _, legacy_message = _huge_legacy(folder)
    fifo = folder / "model.pth.tar-4"
    os.mkfifo(fifo)
    before = _entries(tmp_path)
    proc = workbench("checkpoints", str(folder), memory_mb=3000, timeout=600)
    assert_clean_error(
        proc,
        f"{fifo}: a named pipe (FIFO), not a regular file; refused, since reading it could wait "
        "forever. Copy the checkpoint to a regular file",
        zip_message,
        legacy_message,
    )
    assert f"    1  {good.name:<24} osnet_x0_25" in proc.stdout
    assert _entries(tmp_path) == before


def test_recipe_that_is_a_fifo_does_not_hang(tmp_path, tiny_data):
    fifo = tmp_path / "recipe.json"
    os.mkfifo(fifo)
    proc = workbench("train", "--data", str(tiny_data), "--out", str(tmp_path / "out"),
                     "--recipe", str(fifo), memory_mb=3000, timeout=600)  # fmt: skip
    assert_clean_error(
        proc, f"{fifo}: not a regular file; give the recipe.json file of a trained series"
    )


def test_compare_names_a_broken_recipe_json(tmp_path):
    from explain.compare.series import _recipe

    (tmp_path / "recipe.json").write_text("{truncated")
    with pytest.raises(ValueError) as info:
        _recipe(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'recipe.json'}: not a readable recipe.json (Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)); move it aside or restore the one "
        "written by workbench train"
    )
