"""Safe checkpoint loading: torchreid's layouts load, code-running pickles and bad files do not."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from explain.models.adapter import build_model
from explain.models.checkpoints import (
    CheckpointError,
    UnsafeCheckpointError,
    discover,
    infer_arch,
    load_model,
    read_checkpoint,
)
from explain.models.device import set_threads
from explain.models.series import load_series

set_threads()  # WORKBENCH_THREADS=1 under pytest: two threads on a busy machine crawl

X = torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def osnet() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model("osnet_x0_25", 5).eval()


def embedding(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(X)


class Payload:
    """Unpickling this creates ``target`` (builtins.open in write mode)."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_torchreid_engine_checkpoint_with_numpy_rank1_and_optimizer(tmp_path, osnet):
    """Saved by torchreid's own save_checkpoint, with rank1 as its evaluate_rank returns it."""
    import contextlib
    import io

    from explain.models.adapter import evaluate_rank_reference, training_parts

    cmc, _ = evaluate_rank_reference(
        np.array([[0.1, 0.2], [0.3, 0.1]]),
        np.array([0, 1]),
        np.array([0, 1]),
        np.array([0, 0]),
        np.array([1, 1]),
        max_rank=2,
    )
    rank1 = cmc[0]
    assert isinstance(rank1, np.floating) and rank1 == 1.0
    optim = torch.optim.Adam(osnet.parameters(), lr=0.1)
    for p in osnet.parameters():
        p.grad = torch.zeros_like(p)
    optim.step()  # gives the optimizer per-parameter state tensors, as after training
    assert optim.state_dict()["state"]
    sched = torch.optim.lr_scheduler.StepLR(optim, step_size=3)
    torchtools = training_parts().utils.torchtools
    state = {
        "state_dict": osnet.state_dict(),
        "epoch": 12,
        "rank1": rank1,
        "optimizer": optim.state_dict(),
        "scheduler": sched.state_dict(),
    }
    with contextlib.redirect_stdout(io.StringIO()):
        torchtools.save_checkpoint(state, str(tmp_path / "log" / "model"))
    path = tmp_path / "log" / "model" / "model.pth.tar-12"
    with pytest.raises(pickle.UnpicklingError):  # torchreid cannot read it back on torch >= 2.6
        torchtools.load_checkpoint(str(path))
    ckpt = read_checkpoint(path)
    assert ckpt["epoch"] == 12 and ckpt["has_optimizer"] is True
    assert type(ckpt["rank1"]) is float and ckpt["rank1"] == 1.0
    assert "optimizer" not in ckpt and "scheduler" not in ckpt
    loaded = load_model(path, device="cpu")
    assert loaded.arch == "osnet_x0_25" and loaded.epoch == 12
    assert loaded.meta["num_classes"] == 5 and loaded.meta["rank1"] == 1.0
    assert not loaded.model.training
    assert len(loaded.sha1) == 40
    torch.testing.assert_close(embedding(loaded.model), embedding(osnet))
    np64 = tmp_path / "np64.pth"
    torch.save(
        {
            "state_dict": osnet.state_dict(),
            "rank1": np.float64(0.625),
            "mAP": np.float32(0.5),
            "step": np.int64(7),
        },
        np64,
    )
    ckpt = read_checkpoint(np64)
    assert (ckpt["rank1"], ckpt["mAP"], ckpt["step"]) == (0.625, 0.5, 7)
    assert type(ckpt["step"]) is int


def test_numpy1_pickled_scalar_loads(tmp_path):
    """Files written under numpy 1 name the scalar reconstructor numpy.core.multiarray.scalar."""
    path = tmp_path / "old.pth"
    torch.save(
        {"state_dict": {"w": torch.ones(2)}, "rank1": np.float64(0.25), "epoch": 3},
        path,
        _use_new_zipfile_serialization=False,
    )
    raw = path.read_bytes()
    assert raw.count(b"numpy._core.multiarray") == 1
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    ckpt = read_checkpoint(path)
    assert ckpt["rank1"] == 0.25 and ckpt["epoch"] == 3
    assert torch.equal(ckpt["state_dict"]["w"], torch.ones(2))


def test_dataparallel_prefix_and_bare_state_dict(tmp_path, osnet):
    dp = tmp_path / "dp" / "model.pth.tar-30"
    dp.parent.mkdir()
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in osnet.state_dict().items()}, "epoch": 30}, dp
    )
    bare = tmp_path / "epoch_7.pth"
    torch.save(osnet.state_dict(), bare)
    for path, epoch in ((dp, 30), (bare, 7)):
        loaded = load_model(path, device="cpu")
        assert loaded.arch == "osnet_x0_25" and loaded.epoch == epoch
        assert not any(k.startswith("module.") for k in read_checkpoint(path)["state_dict"])
        torch.testing.assert_close(embedding(loaded.model), embedding(osnet))


def test_classifier_size_does_not_matter_and_headless_files_load(tmp_path, osnet):
    big = build_model("osnet_x0_25", 751).state_dict()
    assert infer_arch(big) == "osnet_x0_25"
    headless = {k: v for k, v in osnet.state_dict().items() if not k.startswith("classifier")}
    path = tmp_path / "backbone.pt"
    torch.save(headless, path)
    loaded = load_model(path, device="cpu")
    assert loaded.meta["num_classes"] is None and loaded.epoch is None
    torch.testing.assert_close(embedding(loaded.model), embedding(osnet))


def test_infers_other_architectures():
    sd = build_model("resnet18", 3).state_dict()
    assert infer_arch(sd) == "resnet18"
    assert infer_arch({f"module.{k}": v for k, v in sd.items()}) == "resnet18"


@pytest.mark.parametrize("kind", ["torch", "raw"])
def test_code_running_pickle_is_refused_and_not_executed(tmp_path, kind):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "model.pth.tar-1"
    if kind == "torch":
        torch.save({"state_dict": {"w": torch.ones(1)}, "epoch": 1, "x": Payload(target)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(target)))
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        read_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):
        load_model(path, arch="osnet_x0_25", device="cpu")
    assert not target.exists()
    # the payload is real: an unsafe load would have created the file
    if kind == "torch":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert target.exists()


def test_refusal_names_the_global(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "x": Payload(tmp_path / "t")}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.open|io\.open"):
        read_checkpoint(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_file(tmp_path, osnet, legacy):
    path = tmp_path / "model.pth.tar-3"
    torch.save(
        {"state_dict": osnet.state_dict(), "epoch": 3},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_model(path, device="cpu")
    assert not isinstance(info.value, UnsafeCheckpointError)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        read_checkpoint(path)
    torch.save({"epoch": 3, "notes": "no weights"}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="no weights found"):
        read_checkpoint(tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "absent.pth")


def test_wrong_architecture(tmp_path):
    path = tmp_path / "model.pth.tar-5"
    torch.save({"state_dict": build_model("resnet18", 4).state_dict(), "epoch": 5}, path)
    with pytest.raises(CheckpointError, match="do not fit osnet_x0_25") as info:
        load_model(path, arch="osnet_x0_25", device="cpu")
    assert "looks like resnet18" in str(info.value)
    with pytest.raises(CheckpointError, match="unknown architecture 'osnet_x9'"):
        load_model(path, arch="osnet_x9", device="cpu")


def test_missing_keys(tmp_path, osnet):
    sd = dict(osnet.state_dict())
    del sd["conv1.conv.weight"], sd["conv5.bn.bias"]
    path = tmp_path / "model.pth.tar-9"
    torch.save({"state_dict": sd, "epoch": 9, "arch": "osnet_x0_25"}, path)
    with pytest.raises(CheckpointError, match=r"2 key\(s\) missing") as info:
        load_model(path, device="cpu")
    assert "conv1.conv.weight" in str(info.value)
    with pytest.raises(CheckpointError, match="do not fit osnet_x0_25: 2 key"):
        load_model(path, arch="osnet_x0_25", device="cpu")


def test_shape_mismatch_is_reported(tmp_path, osnet):
    sd = dict(osnet.state_dict())
    sd["conv1.conv.weight"] = torch.zeros(3, 3, 7, 7)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": sd, "arch": "osnet_x0_25"}, path)
    with pytest.raises(CheckpointError, match="another shape"):
        load_model(path, device="cpu")


def test_torchreid_log_layout_series_in_epoch_order(tmp_path, osnet):
    model_dir = tmp_path / "log" / "osnet_run" / "model"
    model_dir.mkdir(parents=True)
    for epoch in (12, 3, 30):
        torch.save(
            {"state_dict": osnet.state_dict(), "epoch": epoch, "rank1": np.float32(epoch / 100)},
            model_dir / f"model.pth.tar-{epoch}",
        )
    assert [c.epoch for c in discover(tmp_path / "log")] == [3, 12, 30]
    series = load_series(tmp_path / "log", device="cpu")
    assert [m.epoch for m in series] == [3, 12, 30]
    assert [m.label for m in series] == ["epoch 3", "epoch 12", "epoch 30"]
    assert series[0].meta["rank1"] == pytest.approx(0.03)
    assert len({m.sha1 for m in series}) == 3  # the epoch differs, so the bytes do
    with pytest.raises(CheckpointError, match="no checkpoint files"):
        load_series(tmp_path, device="cpu")


def test_epoch_from_dict_when_the_name_has_none(tmp_path, osnet):
    path = tmp_path / "model-best.pth.tar"
    torch.save({"state_dict": osnet.state_dict(), "epoch": 42}, path)
    ckpt = read_checkpoint(path)
    assert ckpt["epoch"] == 42 and ckpt["epoch_in_name"] is None
