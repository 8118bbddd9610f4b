"""Checkpoints: find a series' files, load them safely, rebuild their models (a whole series:
:mod:`explain.models.series`).

A checkpoint is untrusted input. Files are read with ``torch.load(weights_only=True)``, which
only rebuilds tensors and plain Python values; the single extension is the handful of numpy
globals a pickled numpy number needs (torchreid's engine stores ``rank1`` as one). A file that
asks for anything else (a pickle that would run code) is refused with
:class:`UnsafeCheckpointError` before any of it is executed.

Before ``torch.load`` sees a file, :func:`explain.models.checkpoint_files.precheck` makes sure it is
a regular, non-empty file in one of torch's formats whose tensors fit in it; after, the numbers it
stores and its weights are checked (:mod:`explain.models.checkpoint_values`): an out-of-range
``epoch``, ``height``/``width`` (capped by ``WORKBENCH_MAX_SIDE``, default 1024) or ``num_classes``,
and NaN/Inf weights, refuse the file with its name.

Accepted layouts: torchreid's ``{'state_dict', 'epoch', 'rank1', 'optimizer', ...}`` dicts (also
in ``log/<run>/model/model.pth.tar-N``), bare state_dicts, DataParallel's ``module.`` prefix.

"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from curation.images import file_sha1
from explain.models import zoo
from explain.models.adapter import available_models, build_model
from explain.models.checkpoint_files import CheckpointError, precheck
from explain.models.checkpoint_values import check_numbers, check_weights
from explain.models.device import default_device
from explain.models.limits import MAX_EPOCH

CHECKPOINT_PATTERNS = ("model.pth.tar-*", "*.pth.tar", "*.pth", "*.pt")
_EPOCH_RE = re.compile(r"(?:tar-|epoch[_-]?|ep[_-]?|[_-])(\d+)(?:\.pth|\.pt|\.tar)*$", re.I)


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint file of a series; ``epoch`` comes from the file name (None when absent)."""

    path: Path
    epoch: int | None

    @property
    def label(self) -> str:
        return f"epoch {self.epoch}" if self.epoch is not None else self.path.name


def epoch_from_name(name: str) -> int | None:
    """``model.pth.tar-60`` -> 60, ``epoch_12.pth`` -> 12, ``best.pt`` -> None."""
    m = _EPOCH_RE.search(name)
    return int(m.group(1)) if m else None


def discover(folder: str | Path, *, unusable: bool = False) -> list[CheckpointFile]:
    """Checkpoint files in ``folder`` (or ``folder/model`` / ``folder/*/model`` as torchreid's
    ``log/<run>/model/`` layout), ordered by epoch, then name; hidden names are left out.

    By default only regular files (or links to them) are listed. ``unusable=True`` lists every
    entry whose name matches -- folders, named pipes, dangling or looping links too -- so that
    reading it says what it is rather than leaving it out unseen
    (:func:`explain.models.series.load_series` and ``workbench checkpoints`` do)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {folder} does not exist; point to the folder holding "
            "model.pth.tar-N files (or torchreid's log/<run>/)"
        )
    candidates = [folder, folder / "model", *sorted(folder.glob("*/model"))]
    for cand in candidates:
        files: dict[Path, None] = {}
        for pattern in CHECKPOINT_PATTERNS:
            for p in sorted(cand.glob(pattern)):
                listed = (p.is_symlink() or p.exists()) if unusable else p.is_file()
                if listed and not p.name.startswith("."):
                    files[p] = None
        if files:
            found = [CheckpointFile(p, epoch_from_name(p.name)) for p in files]
            return sorted(found, key=lambda c: (c.epoch is None, c.epoch or 0, c.path.name))
    return []


class UnsafeCheckpointError(CheckpointError):
    """The file holds pickled objects that could run code when loaded; it was not loaded."""


def _numpy_globals() -> list:
    """Exactly what a pickled numpy number needs: the scalar reconstructor, ``numpy.dtype`` and
    the numeric dtype classes (bool, integers, floats). Under numpy 2 the reconstructor of
    files written with numpy 1 is named ``numpy.core.multiarray.scalar``: allowed as an alias."""
    try:
        scalar = np._core.multiarray.scalar
        module = "numpy._core.multiarray"
    except AttributeError:  # numpy 1.x
        scalar = np.core.multiarray.scalar
        module = "numpy.core.multiarray"
    allowed: list = [scalar, np.dtype]
    allowed += [type(np.dtype(code)) for code in "?bhilqBHILQefd"]
    if module == "numpy._core.multiarray":
        allowed.append((scalar, "numpy.core.multiarray.scalar"))
    return list(dict.fromkeys(allowed))


def _torch_load(path: Path) -> object:
    """``torch.load(weights_only=True)`` with the numpy allowlist; errors become CheckpointError."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        m = re.search(r"(?:GLOBAL|global) ([\w.]+)|but got <class '([\w.]+)'>", text)
        if m:
            name = m.group(1) or m.group(2)
            raise UnsafeCheckpointError(
                f"{path}: refused to load: the file asks for {name}, which is neither a tensor, "
                "a plain Python value nor a numpy number; unpickling it could run code (a "
                "checkpoint is untrusted input). If you trust its source, re-save just its "
                "weights: torch.save({'state_dict': ckpt['state_dict']}, 'clean.pth')"
            ) from None
        if "Unsupported operand" in text or "magic number" in text:
            raise UnsafeCheckpointError(
                f"{path}: refused to load: not a PyTorch checkpoint but a raw pickle, which could "
                "run code when loaded. Save models with torch.save(model.state_dict(), ...)"
            ) from None
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({_first_line(text)}); copy the file again"
        ) from None
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file; check the path") from None
    except Exception as exc:  # a malformed file can break the reader in any way
        raise CheckpointError(
            f"{path}: truncated or not a PyTorch checkpoint ({type(exc).__name__}: "
            f"{_first_line(str(exc))}); copy the file again or point at a model.pth.tar-N / "
            ".pth file"
        ) from exc


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Weights only load failed", "(1)", "(2)"))]
    first = (useful or lines or ["no detail"])[0]
    return first.split(". ")[0].rstrip(".")[:160]


def _plain(value: object) -> object:
    """numpy numbers -> Python numbers; other scalars unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _is_state_dict(obj: object) -> bool:
    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DataParallel's ``module.`` prefix (when every key has it)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely and normalise it.

    Returns a dict with ``state_dict`` (``module.`` stripped), ``epoch`` (the dict's, else the
    file name's, else None), ``epoch_in_name``, ``has_optimizer``, ``warnings`` (messages naming
    the file: a file-name epoch that differs from the stored one, a dropped informational
    number), and every scalar entry of the file (``rank1``, ``mAP``, ``arch``, ``num_classes``,
    ``height``, ``width`` ...) as a plain Python value, the numeric ones validated
    (:func:`explain.models.checkpoint_values.check_numbers`). Accepts torchreid's dict and a bare
    state_dict. Raises CheckpointError (:class:`UnsafeCheckpointError` for files that would run
    code; nothing is executed).
    """
    path = Path(path)
    size = precheck(path).st_size
    obj = _torch_load(path)
    meta: dict = {}
    if _is_state_dict(obj):
        state_dict = obj
    elif isinstance(obj, Mapping):
        inner = next((obj[k] for k in ("state_dict", "model", "net") if k in obj), None)
        if not _is_state_dict(inner):
            raise CheckpointError(
                f"{path}: no weights found (top-level keys: {sorted(map(str, obj))[:8]}); "
                "expected torchreid's {'state_dict': ..., 'epoch': ...} or a bare state_dict"
            )
        state_dict = inner
        for key, value in obj.items():
            value = _plain(value)
            if isinstance(value, str | int | float | bool) or value is None:
                meta[str(key)] = value
        meta["has_optimizer"] = "optimizer" in obj
    else:
        raise CheckpointError(
            f"{path}: holds a {type(obj).__name__}, not a state_dict or a checkpoint dict"
        )
    entries = obj if not _is_state_dict(obj) else {}
    numbers, warnings = check_numbers(path, entries)
    for key in ("rank1", "mAP", "epoch", "height", "width", "num_classes"):
        meta.pop(key, None)
    if "arch" in meta and not isinstance(meta["arch"], str):
        del meta["arch"]
    meta.update(numbers)
    check_weights(path, state_dict, size)
    epoch, name_epoch = _epochs(path, numbers.get("epoch"), warnings)
    meta.setdefault("has_optimizer", False)
    return {
        **meta,
        "state_dict": strip_prefix(state_dict),
        "epoch": epoch,
        "epoch_in_name": name_epoch,
        "warnings": warnings,
    }


def _epochs(path: Path, stored: int | None, warnings: list[str]) -> tuple[int | None, int | None]:
    """``(epoch, epoch in the file name)``: the stored epoch wins; a name that says another one
    adds a warning; a name epoch out of range is refused when nothing else gives the epoch."""
    name_epoch = epoch_from_name(path.name)
    if name_epoch is not None and stored is not None and name_epoch != stored:
        warnings.append(
            f"{path}: the file name says epoch {name_epoch} but the file stores epoch {stored}; "
            f"shown as epoch {stored} (rename the file if the stored epoch is right)"
        )
    if stored is None and name_epoch is not None and name_epoch > MAX_EPOCH:
        raise CheckpointError(
            f"{path}: the file name gives epoch {name_epoch}, outside 0..{MAX_EPOCH}, and the "
            "file stores no epoch; rename the file (e.g. model.pth.tar-60)"
        )
    return (stored if stored is not None else name_epoch), name_epoch


@dataclass
class LoadedModel:
    """A checkpoint turned into a model in eval mode that outputs the embedding.

    ``sha1``: hex SHA-1 of the file's bytes (the cache key); ``meta``: the file's scalar entries
    plus ``num_classes`` (None when the file has no classifier) and ``height``/``width`` (the
    input size the model was trained at; 256×128 when the file does not say); ``warnings``:
    messages about the file worth showing (see :func:`read_checkpoint`).
    """

    model: torch.nn.Module
    arch: str
    epoch: int | None
    path: Path
    sha1: str
    meta: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"epoch {self.epoch}" if self.epoch is not None else self.path.name

    @property
    def input_size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.meta.get("height", 256)), int(self.meta.get("width", 128))


def _resolve_arch(path: Path, ckpt: dict, arch: str | None) -> zoo.Fit:
    state_dict = ckpt["state_dict"]
    if arch is not None:
        if arch not in available_models():
            raise CheckpointError(
                f"unknown architecture {arch!r}; use a torchreid model name such as "
                "osnet_x0_25, osnet_x1_0 or resnet50"
            )
        fit = zoo.compare(state_dict, arch)
        if fit.ok:
            return fit
        guess = zoo.infer(state_dict, everywhere=False)
        hint = f"; it looks like {guess.arch} (try --arch {guess.arch})" if guess.ok else ""
        raise CheckpointError(f"{path}: the weights do not fit {arch}: {fit.describe()}{hint}")
    stored = ckpt.get("arch")
    if isinstance(stored, str) and stored:
        if stored not in available_models():
            raise CheckpointError(
                f"{path}: the file names architecture {stored!r}, which torchreid does not "
                "have; pass --arch with a torchreid model name"
            )
        fit = zoo.compare(state_dict, stored)
        if not fit.ok:
            raise CheckpointError(
                f"{path}: the file says it is {stored} but its weights do not fit: "
                f"{fit.describe()}. The file may be incomplete; pass --arch to override"
            )
        return fit
    return _infer_fit(path, state_dict)


def _infer_fit(path: Path | None, state_dict: Mapping[str, torch.Tensor]) -> zoo.Fit:
    fit = zoo.infer(state_dict)
    if not fit.ok:
        where = f"{path}: " if path is not None else ""
        raise CheckpointError(
            f"{where}no torchreid architecture fits these weights; the closest is {fit.arch} "
            f"with {fit.describe()}. The file may be incomplete, or from a model torchreid "
            "does not have; pass --arch to name the architecture"
        )
    return fit


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The torchreid architecture whose tensors (names and shapes, classifier size aside) are
    exactly those of ``state_dict`` (``module.`` prefix allowed). Raises CheckpointError."""
    return _infer_fit(None, strip_prefix(state_dict)).arch


def load_model(
    path: str | Path, arch: str | None = None, device: str | torch.device | None = None
) -> LoadedModel:
    """Load a checkpoint into its torchreid architecture (``arch`` given, the file's ``arch``
    entry verified against its shapes, or inferred from them), in eval mode on ``device``
    (default: :func:`explain.models.device.default_device`)."""
    path = Path(path)
    ckpt = read_checkpoint(path)
    fit = _resolve_arch(path, ckpt, arch)
    model = build_model(fit.arch, fit.num_classes or 1)
    state_dict = dict(ckpt["state_dict"])
    own = model.state_dict()
    for key, value in own.items():  # counters absent from old files do not change the output
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = value
    result = model.load_state_dict(state_dict, strict=False)
    head = set(zoo.signature(fit.arch).head)
    missing = [k for k in result.missing_keys if not (fit.num_classes is None and k in head)]
    if missing or result.unexpected_keys:  # pragma: no cover - compare() already checked
        raise CheckpointError(
            f"{path}: weights do not load into {fit.arch}: missing {missing[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}"
        )
    target = torch.device(device) if device is not None else default_device()
    model = model.to(target).eval()
    meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "warnings")}
    warnings = list(ckpt["warnings"])
    stored = meta.get("num_classes")
    if stored is not None and fit.num_classes is not None and stored != fit.num_classes:
        warnings.append(
            f"{path}: 'num_classes' says {stored} but the classifier has {fit.num_classes} "
            f"rows; shown as {fit.num_classes}"
        )
    meta["num_classes"] = fit.num_classes
    meta["arch"] = fit.arch
    sha1 = file_sha1(path)
    return LoadedModel(model, fit.arch, ckpt["epoch"], path, sha1, meta, warnings)


def describe(path: str | Path, arch: str | None = None) -> dict:
    """What a checkpoint holds, without building its model: ``file``, ``epoch``, ``arch``,
    ``num_classes``, ``rank1``, ``mAP`` (from the file, NaN when absent), ``size_mb``, ``sha1``,
    ``optimizer`` (bool), ``warnings`` (see :func:`read_checkpoint`). Raises CheckpointError
    like :func:`load_model`."""
    path = Path(path)
    ckpt = read_checkpoint(path)
    fit = _resolve_arch(path, ckpt, arch)

    def number(key: str) -> float:
        value = ckpt.get(key)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if is_number else float("nan")

    return {
        "file": path.name,
        "epoch": ckpt["epoch"],
        "arch": fit.arch,
        "num_classes": fit.num_classes,
        "rank1": number("rank1"),
        "mAP": number("mAP"),
        "size_mb": path.stat().st_size / 1e6,
        "sha1": file_sha1(path),
        "optimizer": bool(ckpt["has_optimizer"]),
        "warnings": list(ckpt["warnings"]),
    }
