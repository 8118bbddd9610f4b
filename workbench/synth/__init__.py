"""Deterministic sample data: synthetic pet re-ID photos with planted, masked artifacts.

``generate(out_dir, SynthConfig(seed=0))`` writes torchreid's layout (``train/``, ``query/``,
``gallery/``), per-photo masks of the animal and of each artifact (``masks/``), the same photos
without their artifacts (``counterfactual/``) and ``manifest.csv``. Numpy and Pillow only;
nothing is downloaded. :func:`contact_sheet` tiles photos for a quick look.
"""

from workbench.synth.artifacts import ARTIFACTS
from workbench.synth.dataset import (
    COLUMNS,
    MARKER,
    SPLITS,
    PhotoPlan,
    SynthConfig,
    generate,
    is_sample_dataset,
    plan,
)
from workbench.synth.render import LOOKS, RenderError
from workbench.synth.sheet import contact_sheet

__all__ = [
    "ARTIFACTS",
    "COLUMNS",
    "LOOKS",
    "MARKER",
    "SPLITS",
    "PhotoPlan",
    "RenderError",
    "SynthConfig",
    "contact_sheet",
    "generate",
    "is_sample_dataset",
    "plan",
]
