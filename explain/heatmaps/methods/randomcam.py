"""RandomCAM, pytorch-grad-cam's baseline: uniform random channel weights in [-1, 1].

A faithfulness check compares every method against it. The library draws from numpy's global
generator; here the weights come from a seeded generator so maps are reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import RandomCAM
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._cam import run_cam
from explain.heatmaps.targets import EmbeddingTarget


class SeededRandomCAM(RandomCAM):
    """The library's RandomCAM with its weights drawn from ``numpy.random.default_rng(seed)``."""

    def __init__(self, model, target_layers, seed: int = 0, reshape_transform=None):
        super().__init__(model, target_layers, reshape_transform)
        self.rng = np.random.default_rng(seed)

    def get_cam_weights(self, input_tensor, target_layer, target_category, activations, grads):
        return self.rng.uniform(-1, 1, size=(grads.shape[0], grads.shape[1]))


@register("randomcam", reference=True)
def randomcam(
    model: nn.Module,
    x: torch.Tensor,
    target: EmbeddingTarget,
    layer: str | None = None,
    seed: int = 0,
) -> Heatmap:
    """Random channel weights times the layer's activations (same ``seed``, same map): the
    baseline a method must beat to explain anything."""
    hm = run_cam(SeededRandomCAM, "randomcam", model, x, target, layer, seed=seed)
    return Heatmap(hm.map, hm.raw, hm.method, {**hm.params, "seed": seed}, hm.score, hm.info)
