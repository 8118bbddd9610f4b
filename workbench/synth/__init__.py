"""Deterministic sample data: synthetic pet re-ID photos with planted, masked artifacts.

``generate(out_dir, SynthConfig(seed=0))`` writes torchreid's layout (``train/``, ``query/``,
``gallery/``), per-photo masks of the animal and of each artifact (``masks/``), the same photos
without their artifacts (``counterfactual/``) and ``manifest.csv``. Numpy and Pillow only;
nothing is downloaded. :func:`contact_sheet` tiles photos for a quick look.

What the ground truth means:

- masks are the *visible* pixels at the output resolution (visible share >= 0.5): the animal
  mask is the visible fur (body, head, ears, legs, tail, whiskers); a hand, a tongue or grass in
  front of the animal cuts it, a glare does not (it lies on the fur, so ``glare`` is inside the
  animal mask while ``tongue``/``hands``/``grass`` are disjoint from it);
- a counterfactual is the same render without the artifact layers: it differs from the photo
  inside the artifact masks and, through the camera blur and JPEG blocks, a few pixels around;
- in the ``segmented`` look a hand keeps a short, cleanly cut piece of arm when the image edge
  it comes from is far; with a background the arm reaches the edge;
- ``n_query_without_gallery`` posts are extra (not part of ``n_test_ids``) and are built as
  look-alikes of test queries, so a model can only match them wrongly.
"""

from workbench.synth.artifacts import ARTIFACTS
from workbench.synth.config import SynthConfig
from workbench.synth.dataset import COLUMNS, MARKER, generate, is_sample_dataset
from workbench.synth.plan import SPLITS, PhotoPlan, plan
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
