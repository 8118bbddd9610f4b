"""Grad-CAM (Selvaraju et al. 2017) via pytorch-grad-cam: channel weights = mean gradient."""

from __future__ import annotations

import torch
from pytorch_grad_cam import GradCAM
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._cam import run_cam
from explain.heatmaps.targets import EmbeddingTarget


@register("gradcam")
def gradcam(
    model: nn.Module, x: torch.Tensor, target: EmbeddingTarget, layer: str | None = None
) -> Heatmap:
    """Grad-CAM of ``target`` at ``layer`` (default per architecture, e.g. OSNet ``conv5``).

    ``raw``: ``sum_c mean(dT/dA_c) * A_c`` at the layer's resolution, before the ReLU.
    """
    return run_cam(GradCAM, "gradcam", model, x, target, layer)
