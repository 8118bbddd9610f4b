"""Grad-CAM++ (Chattopadhyay et al. 2018) via pytorch-grad-cam."""

from __future__ import annotations

import torch
from pytorch_grad_cam import GradCAMPlusPlus
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._cam import run_cam
from explain.heatmaps.targets import EmbeddingTarget


@register("gradcam++")
def gradcampp(
    model: nn.Module, x: torch.Tensor, target: EmbeddingTarget, layer: str | None = None
) -> Heatmap:
    """Grad-CAM++ of ``target`` at ``layer``: positive gradients weighted by the second/third
    order terms of the paper's eq. 19. ``raw`` at the layer's resolution, before the ReLU."""
    return run_cam(GradCAMPlusPlus, "gradcam++", model, x, target, layer)
