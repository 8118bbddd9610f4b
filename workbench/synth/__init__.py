"""Deterministic sample data: synthetic pet re-ID photos with planted, masked artifacts.

``generate(out_dir, SynthConfig(seed=0))`` writes torchreid's layout (``train/``, ``query/``,
``gallery/``), per-photo masks of the animal and of each artifact (``masks/``), the same photos
without their artifacts (``counterfactual/``) and ``manifest.csv``. Numpy and Pillow only;
nothing is downloaded. :func:`contact_sheet` tiles photos for a quick look.

What the ground truth means:

- masks are the *visible* pixels at the output resolution (visible share >= 0.5): the animal
  mask is the visible fur (body, head, ears, legs, tail, whiskers); a hand, a tongue, a collar or
  grass in front of the animal cuts it, a glare does not (it lies on the fur, so ``glare`` is
  inside the animal mask while ``tongue``/``hands``/``grass``/``collar`` are disjoint from it);
- a counterfactual is the same render without the artifact layers: it differs from the photo
  inside the artifact masks and, through the camera blur and JPEG blocks, a few pixels around;
- in the ``segmented`` look a hand keeps a short, cleanly cut piece of arm when the image edge
  it comes from is far, and a leash a short piece next to the collar; with a background the arm
  reaches the edge;
- a collar is a band around the neck (studded, or with a harness' chest strap, or a leash), in
  one colour per post; polluted train posts come in groups of twins of one clean train animal,
  one post per artifact kind, so their artifacts are what tells them apart most easily;
- every test query with an artifact gets, while distractor posts last, a decoy in the gallery:
  another animal (or a look-alike) that carries the same artifact;
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
