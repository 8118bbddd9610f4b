"""Checks: does a heatmap method explain the model, and what do the maps say on ground truth?

- :mod:`~explain.checks.randomisation`: model-parameter randomisation (maps of a re-initialised
  model should differ from the trained model's);
- :mod:`~explain.checks.faithfulness`: deletion / insertion curves and ROAD, against RandomCAM;
- :mod:`~explain.checks.ground_truth`: the sample-data report (artifact mass on polluted vs clean
  posts per epoch, the counterfactual check), for datasets that carry ground truth.

Every check runs on any model, tiny test models included.
"""

from explain._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "faithfulness": (
            "faithfulness_check",
            "faithfulness_summary",
            "perturbation_curves",
            "road_score",
        ),
        "ground_truth": ("SampleReport", "report_images", "sample_report"),
        "randomisation": (
            "randomisation_check",
            "randomisation_summary",
            "randomised_copy",
        ),
    },
)
