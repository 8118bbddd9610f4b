"""torchreid's classic activation map: feature energy of the last convolutional block.

Reproduces ``torchreid.utils.visualize_actmap``: ``sum_c A_c^2`` of the feature maps, L2-normalised
over positions, resized to the input with cv2 (bilinear), min-max scaled. It looks at the features
only, not at any similarity, so the map does not depend on the target (``score`` still reports
the target's value); it is here so the team's earlier pictures can be reproduced and compared.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from explain.heatmaps.base import (
    Heatmap,
    as_batch,
    check_embedding_output,
    explaining,
    model_device,
)
from explain.heatmaps.catalog import register
from explain.heatmaps.layers import resolve_layer
from explain.heatmaps.targets import EmbeddingTarget


@register("activation")
def activation(
    model: nn.Module, x: torch.Tensor, target: EmbeddingTarget, layer: str | None = None
) -> Heatmap:
    """Feature energy at ``layer`` (default: the architecture's last block, OSNet ``conv5``).

    ``raw``: ``sum_c A_c^2`` at the layer's resolution (non-negative, unnormalised).
    """
    captured: list[torch.Tensor] = []
    with explaining(model):
        path, module = resolve_layer(model, layer)
        inp = as_batch(x, model_device(model))
        handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
        try:
            with torch.no_grad():
                out = check_embedding_output(model(inp))
                score = float(target(out[0]))
        finally:
            handle.remove()
    if len(captured) != 1 or captured[0].dim() != 4:
        raise ValueError(
            f"layer {path!r} must produce one (N, C, h, w) feature map per forward pass; "
            "choose a convolutional block"
        )
    energy = (captured[0][0].float() ** 2).sum(0)
    raw = energy.cpu().numpy().astype(np.float32)
    # torchreid: L2-normalise over positions, resize to (W, H), scale to [0, 1]
    flat = energy.flatten()
    am = (flat / flat.norm().clamp_min(1e-12)).view_as(energy).cpu().numpy()
    h, w = int(inp.shape[2]), int(inp.shape[3])
    am = cv2.resize(am, (w, h))
    am = (am - np.min(am)) / (np.max(am) - np.min(am) + 1e-12)
    return Heatmap(
        map=np.clip(am, 0.0, 1.0).astype(np.float32),
        raw=raw,
        method="activation",
        params={"layer": path},
        score=score,
        info={"layer_shape": [int(raw.shape[0]), int(raw.shape[1])]},
    )
