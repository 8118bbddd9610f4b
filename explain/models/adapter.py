"""The one module that talks to torchreid.

Everything else asks this module for models, losses, samplers and the reference metrics, so that
torchreid's quirks (console output, name-mangled registries, ``pretrained=True`` downloads) are
handled in one place. Models are always built with ``pretrained=False``: weights come only from
checkpoints the user points at; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from types import ModuleType

import torch


class TorchreidMissing(ImportError):
    """torchreid is not importable."""


def _torchreid() -> ModuleType:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Cython evaluation")
            import torchreid.reid as reid
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TorchreidMissing(
            f"torchreid cannot be imported ({exc}); install the project with `make install` "
            "or `pip install torchreid gdown tensorboard opencv-python-headless`"
        ) from exc
    return reid


def available_models() -> list[str]:
    """Names torchreid's model factory knows (``osnet_x0_25``, ``resnet50``, ...)."""
    return sorted(vars(_torchreid().models)["__model_factory"])


def build_model(arch: str, num_classes: int, loss: str = "triplet") -> torch.nn.Module:
    """Build a torchreid model with random weights (``pretrained=False``, never downloads)."""
    names = available_models()
    if arch not in names:
        raise ValueError(
            f"unknown architecture {arch!r}; choose one of torchreid's models, e.g. "
            "osnet_x0_25, osnet_x1_0, resnet50 (all: workbench models)"
        )
    with contextlib.redirect_stdout(io.StringIO()):  # some builders print their configuration
        return _torchreid().models.build_model(arch, num_classes, loss=loss, pretrained=False)


def training_parts() -> ModuleType:
    """torchreid's losses, sampler, optimizers and transforms (the training recipe's pieces)."""
    return _torchreid()


def evaluate_rank_reference(*args, **kwargs):
    """torchreid's own ``evaluate_rank`` (python version), the reference our metrics must equal."""
    reid = _torchreid()
    kwargs.setdefault("use_cython", False)
    return reid.metrics.rank.evaluate_rank(*args, **kwargs)
