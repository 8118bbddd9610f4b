"""HiResCAM (Draelos & Carin 2020) via pytorch-grad-cam: element-wise gradient x activation.

At a layer followed directly by global average pooling (OSNet ``conv5``, ResNet ``layer4``) the
gradient is the same at every position, so HiResCAM equals Grad-CAM there (to float precision);
the two differ at earlier layers (``conv4``, ``conv3.1``).
"""

from __future__ import annotations

import torch
from pytorch_grad_cam import HiResCAM
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._cam import run_cam
from explain.heatmaps.targets import EmbeddingTarget


@register("hirescam")
def hirescam(
    model: nn.Module, x: torch.Tensor, target: EmbeddingTarget, layer: str | None = None
) -> Heatmap:
    """HiResCAM of ``target`` at ``layer``: ``sum_c dT/dA_c * A_c`` per position (no spatial
    averaging of the gradient, so the map shows where the target's gradient actually acts)."""
    return run_cam(HiResCAM, "hirescam", model, x, target, layer)
