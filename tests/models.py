"""Tiny models and targets the tests share (like captum's ``testing/helpers/basic_models.py``).

Hand-built so that their maps are known exactly (a planted region, a linear target), or small
random networks seeded for reproducibility. Every model returns an embedding ``(N, D)`` in eval
mode, as the heatmap contract expects.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

PLANTED_REGION = (slice(2, 5), slice(3, 6))  # rows 2-4, cols 3-5 of an 8x8 image


# --------------------------------------------------------------------------- planted maps


class Planted(nn.Module):
    """``body`` copies channels 0 and 1 (1x1 conv); the embedding sums each over the image."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.body.weight.zero_()
            self.body.weight[0, 0] = 1.0
            self.body.weight[1, 1] = 1.0
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        a = self.body(x)
        return self.drop(a.sum(dim=(2, 3)) + torch.tensor([0.0, 1.0]))


def planted_input() -> torch.Tensor:
    """``(1, 3, 8, 8)``: channel 0 is 1 on :data:`PLANTED_REGION`, channel 1 is 0.5."""
    x = torch.zeros(1, 3, 8, 8)
    x[0, 0][PLANTED_REGION] = 1.0
    x[0, 1] = 0.5
    return x


def planted_region() -> np.ndarray:
    """The map :class:`Planted` must give: 1 on :data:`PLANTED_REGION`, 0 elsewhere."""
    m = np.zeros((8, 8), dtype=np.float32)
    m[PLANTED_REGION] = 1.0
    return m


class RegionSum(nn.Module):
    """Embedding ``(sum of channel 0 over a region, 1)``."""

    def __init__(self, rows: slice, cols: slice):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        s = x[:, 0, self.rows, self.cols].sum(dim=(1, 2)) * self.scale
        return torch.stack([s, torch.ones_like(s)], dim=1)


class Region(nn.Module):
    """Identity 1x1 conv, then the sum of channel 0 over rows 2-3, cols 4-5: ``(s, 1)``."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.body.weight.copy_(torch.eye(3).view(3, 3, 1, 1))

    def forward(self, x):
        s = self.body(x)[:, 0, 2:4, 4:6].sum(dim=(1, 2))
        return torch.stack([s, torch.ones_like(s)], 1)


def region_map() -> np.ndarray:
    """The map :class:`Region` must give: 1 on rows 2-3, cols 4-5 of an 8x8 image."""
    m = np.zeros((8, 8), np.float32)
    m[2:4, 4:6] = 1.0
    return m


class First:
    """Target: the first coordinate of the embedding (linear, so drops are exact sums)."""

    def __call__(self, e):
        return e[..., 0]

    def bind(self, clean):
        return self

    def key(self):
        return "first"


# --------------------------------------------------------------------------- small networks


def conv_net(seed: int) -> nn.Module:
    """conv(6) -> relu -> conv(8) -> relu -> global mean: embedding ``(N, 8)``; the last
    convolution is layer ``"2"``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()  # fmt: skip


def small_net(seed: int = 0, pool: int = 2) -> nn.Module:
    """conv -> batch norm (random statistics) -> relu -> strided conv -> relu -> pool ->
    linear: embedding ``(N, 6)``."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(8 * pool * pool, 6),
    )  # fmt: skip
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


class LinearHead(nn.Module):
    """Two convolutions, global mean, a linear layer: embedding ``(N, 6)``."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 6)

    def forward(self, x):
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(h.mean(dim=(2, 3)))


class Pooled(nn.Module):
    """Tiny embedding model: conv features, global average pooling."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x)))).mean(dim=(2, 3))


class Counting(torch.nn.Module):
    """A tiny deterministic embedder that counts the images it has seen."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 5, stride=4)
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return torch.nn.functional.adaptive_avg_pool2d(self.conv(x).relu(), (2, 1)).flatten(1)


def strided_net(seed: int = 0) -> nn.Module:
    """conv(6) -> relu -> conv(5, stride 2) -> relu -> global mean: embedding ``(N, 5)``; the
    CAM layer ``"3"`` is at half the input resolution."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, stride=2, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()  # fmt: skip


def one_conv(seed: int = 0, channels: int = 8) -> nn.Module:
    """conv(``channels``) -> relu -> global mean: embedding ``(N, channels)``; layer ``"1"``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    ).eval()
