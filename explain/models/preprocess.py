"""torchreid's test-time preprocessing: resize to H×W, [0, 1] tensor, ImageNet normalisation."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = (256, 128)  # (height, width), torchreid's person/pet crop


def test_transform(height: int = 256, width: int = 128) -> T.Compose:
    """The transform torchreid's ``build_transforms`` returns for testing."""
    return T.Compose(
        [
            T.Resize((height, width)),
            T.ToTensor(),
            T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        ]
    )


def to_input(img: Image.Image, height: int = 256, width: int = 128) -> torch.Tensor:
    """One RGB image -> normalised ``(1, 3, H, W)`` float32 tensor."""
    return test_transform(height, width)(img).unsqueeze(0)


def to_display(x: torch.Tensor) -> np.ndarray:
    """Undo the normalisation: ``(3, H, W)``/``(1, 3, H, W)`` -> ``(H, W, 3)`` float in [0, 1]."""
    if x.dim() == 4:
        x = x[0]
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1).permute(1, 2, 0).detach().cpu().numpy()
