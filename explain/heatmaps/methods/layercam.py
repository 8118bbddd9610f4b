"""LayerCAM (Jiang et al. 2021) via pytorch-grad-cam: each position weighted by its own positive
gradient, ``sum_c relu(dT/dA_c) * A_c``.

Unlike Grad-CAM it does not average the gradient over the layer, so earlier, finer layers
(OSNet ``conv3.1``, ``conv2.1``) give usable maps; at a layer followed directly by global average
pooling the gradient is the same everywhere and LayerCAM is Grad-CAM with negative channel weights
set to zero.
"""

from __future__ import annotations

import torch
from pytorch_grad_cam import LayerCAM
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._cam import run_cam
from explain.heatmaps.targets import EmbeddingTarget


@register("layercam")
def layercam(
    model: nn.Module, x: torch.Tensor, target: EmbeddingTarget, layer: str | None = None
) -> Heatmap:
    """LayerCAM of ``target`` at ``layer`` (default per architecture, e.g. OSNet ``conv5``).

    ``raw``: ``sum_c relu(dT/dA_c) * A_c`` per position at the layer's resolution, before the
    final ReLU (non-negative wherever the activations are).
    """
    return run_cam(LayerCAM, "layercam", model, x, target, layer)
