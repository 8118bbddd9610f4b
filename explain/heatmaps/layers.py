"""Target layers: a default per architecture, overridable by module path (never ``eval``).

OSNet's default ``conv5`` is ``16x8`` at 256x128 input. Note that ``conv4`` (and ``conv3``'s
output) are ``16x8`` as well: each of ``conv2`` and ``conv3`` ends with a transition that halves
the resolution. Finer maps come from the last block before a transition: ``conv3.1`` (``32x16``)
or ``conv2.1`` (``64x32``); :data:`FINER_LAYERS` lists them; :func:`layer_shapes` measures
any layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# class name of the model -> default target layer (the last convolutional block)
DEFAULT_LAYERS: dict[str, str] = {
    "OSNet": "conv5",
    "ResNet": "layer4",
    "ResNetMid": "layer4",
    "PCB": "layer4",
    "SENet": "layer4",
    "MobileNetV2": "conv9",
    "ShuffleNetV2": "conv5",
    "ShuffleNet": "stage4",
    "DenseNet": "features",
    "SqueezeNet": "features",
    "InceptionV4": "features",
    "MLFN": "feature",
}
# class name -> layers giving finer maps than the default, coarse to fine
FINER_LAYERS: dict[str, tuple[str, ...]] = {
    "OSNet": ("conv3.1", "conv2.1"),
    "ResNet": ("layer3", "layer2"),
    "ResNetMid": ("layer3", "layer2"),
    "PCB": ("layer3", "layer2"),
    "SENet": ("layer3", "layer2"),
}


def architecture(model: nn.Module) -> str:
    """The model's class name (``OSNet``, ``ResNet`` ...), the key of :data:`DEFAULT_LAYERS`."""
    return type(model).__name__


def default_layer(model: nn.Module) -> str:
    """Module path of the default target layer; ValueError when the architecture is unknown."""
    arch = architecture(model)
    name = DEFAULT_LAYERS.get(arch)
    if name is None:
        raise ValueError(
            f"no default target layer for {arch}; pass layer='<module path>' "
            f"(top-level modules: {', '.join(n for n, _ in model.named_children())})"
        )
    return name


def resolve_layer(model: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """``(path, module)`` of the target layer: ``name`` (``"conv4"``, ``"conv3.1"``,
    ``"layer4.2.conv3"``) looked up with ``model.get_submodule``, or the default when None."""
    path = default_layer(model) if name is None else name
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"layer must be a module path such as 'conv4', not {name!r}")
    try:
        module = model.get_submodule(path)
    except AttributeError as exc:
        raise ValueError(
            f"{architecture(model)} has no layer {path!r} ({exc}); top-level modules: "
            f"{', '.join(n for n, _ in model.named_children())}"
        ) from None
    return path, module


def layer_choices(model: nn.Module) -> list[str]:
    """Default layer first, then the finer ones known for this architecture."""
    arch = architecture(model)
    out = [default_layer(model)] if arch in DEFAULT_LAYERS else []
    out += [n for n in FINER_LAYERS.get(arch, ()) if _exists(model, n)]
    return out


def _exists(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def layer_shapes(
    model: nn.Module, names: Sequence[str], size: tuple[int, int] = (256, 128)
) -> dict[str, tuple[int, int]]:
    """Spatial output shape ``(h, w)`` of each layer for an input of ``size`` ``(H, W)``.

    Runs one forward pass on zeros in eval mode (restored afterwards, hooks removed).
    """
    from explain.heatmaps.base import explaining, model_device

    shapes: dict[str, tuple[int, int]] = {}
    handles = []
    try:
        for name in names:
            _, module = resolve_layer(model, name)

            def hook(_m, _i, out, name=name):
                shapes[name] = (int(out.shape[-2]), int(out.shape[-1]))

            handles.append(module.register_forward_hook(hook))
        with explaining(model), torch.no_grad():
            model(torch.zeros(1, 3, *size, device=model_device(model)))
    finally:
        for h in handles:
            h.remove()
    return shapes
