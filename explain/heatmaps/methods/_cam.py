"""Shared driver for the pytorch-grad-cam methods.

The library's ``BaseCAM.__call__`` falls back to argmax when ``targets`` is None and swallows
``IndexError`` in ``__exit__``; this driver uses the library's pieces directly instead: its hooks
(``ActivationsAndGradients``), its channel weights / CAM image (``get_cam_image``) and its scaling
(``scale_cam_image``), with an explicit target, and releases the hooks in ``finally``.

For one target layer the map equals what ``cam(input_tensor=x, targets=[target])`` returns; the
raw map is the layer-resolution CAM before the ReLU (computed once, so RandomCAM's random weights
are the same for both).
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam.utils.image import scale_cam_image
from threadpoolctl import threadpool_limits
from torch import nn

from explain.heatmaps.base import (
    Heatmap,
    as_batch,
    check_embedding_output,
    explaining,
    model_device,
)
from explain.heatmaps.layers import resolve_layer
from explain.heatmaps.targets import EmbeddingTarget


def cam_map(raw: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam's post-processing of one layer's CAM: ReLU, scale, resize, scale again.

    ``raw`` ``(h, w)`` -> ``(H, W)`` float32 in [0, 1].
    """
    h, w = shape
    cam = np.maximum(raw, 0)[None].astype(np.float32)
    per_layer = scale_cam_image(cam, (w, h))  # min-max, then cv2 resize to (W, H)
    out = scale_cam_image(np.maximum(per_layer, 0))[0]  # aggregate_multi_layers, one layer
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _single(captured: list[torch.Tensor], path: str, what: str) -> torch.Tensor:
    if len(captured) != 1:
        raise ValueError(
            f"layer {path!r} produced {len(captured)} {what}s in one forward pass (expected 1): "
            "it is not used or used several times; choose another layer"
        )
    return captured[0]


def run_cam(
    cam_class: type,
    method: str,
    model: nn.Module,
    x: torch.Tensor,
    target: EmbeddingTarget,
    layer: str | None = None,
    **cam_kwargs,
) -> Heatmap:
    """Run one pytorch-grad-cam class with an explicit embedding target on one image."""
    with explaining(model):
        path, module = resolve_layer(model, layer)
        inp = as_batch(x, model_device(model))
        cam = cam_class(model=model, target_layers=[module], **cam_kwargs)
        try:
            if cam.uses_gradients:
                inp.requires_grad_(True)
                out = check_embedding_output(cam.activations_and_grads(inp))
                value = target(out[0])
                if value.dim() != 0:
                    raise ValueError(
                        f"the target returned shape {tuple(value.shape)} for one embedding; "
                        "a target must return a scalar"
                    )
                if not value.requires_grad:
                    raise ValueError("the target's value does not depend on the image")
                value.backward()
                grads = _single(cam.activations_and_grads.gradients, path, "gradient").numpy()
                if not np.isfinite(grads).all():
                    raise ValueError("the gradient of the target is not finite")
            else:
                with torch.no_grad():
                    out = check_embedding_output(cam.activations_and_grads(inp))
                    value = target(out[0])
                grads = None
            acts = _single(cam.activations_and_grads.activations, path, "activation").numpy()
            # numpy's BLAS (EigenCAM's SVD) next to torch's threads: oversubscribed, it can take
            # seconds instead of milliseconds on a busy machine; use torch's thread count
            with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):
                raw = cam.get_cam_image(inp, module, [target], acts, grads, False)[0]
        finally:
            cam.activations_and_grads.release()
    raw = np.asarray(raw, dtype=np.float32)
    shape = (int(inp.shape[2]), int(inp.shape[3]))
    return Heatmap(
        map=cam_map(raw, shape),
        raw=raw,
        method=method,
        params={"layer": path},
        score=float(value.detach()),
        info={"layer_shape": [int(raw.shape[0]), int(raw.shape[1])]},
    )
