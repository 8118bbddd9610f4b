"""EigenCAM (Muhammad & Yeasin 2020) via pytorch-grad-cam: first principal component of the
layer's activations. It uses no gradient, so the map does not depend on the target (the
target's value is still reported as ``score``); the SVD's sign is arbitrary, as in the library."""

from __future__ import annotations

import torch
from pytorch_grad_cam import EigenCAM
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._cam import run_cam
from explain.heatmaps.targets import EmbeddingTarget


@register("eigencam")
def eigencam(
    model: nn.Module, x: torch.Tensor, target: EmbeddingTarget, layer: str | None = None
) -> Heatmap:
    """EigenCAM at ``layer``: ``raw`` is the projection of the centred activations on their
    first right-singular vector, at the layer's resolution."""
    return run_cam(EigenCAM, "eigencam", model, x, target, layer)
