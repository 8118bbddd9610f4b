"""Heatmap methods behind one contract: ``(model, image tensor, target) -> Heatmap``.

``compute("gradcam", model, x, SelfSimilarity())``; names: ``gradcam``, ``gradcam++``,
``hirescam``, ``eigencam``, ``randomcam``, ``activation``, ``occlusion`` (see :data:`METHODS`).
"""

from explain.heatmaps.base import METHODS, Heatmap, available, compute, get_method, register

__all__ = ["METHODS", "Heatmap", "available", "compute", "get_method", "register"]
