"""One call that the `workbench diagnose` command and the Diagnose page share: measure a
checkpoint (:func:`explain.diagnose.run.measure`), add the experiment's results and the shortcut
finder's posts, rank, write the folder. On the sample dataset the generator's facing sides
(:mod:`workbench.facing_truth`) score the side decision; they never drive it."""

from __future__ import annotations

from pathlib import Path

from explain.diagnose import pollution, report
from explain.diagnose.run import Progress, measure
from explain.storage.cache import DiskCache
from workbench.facing_truth import sample_sides, side_truth
from workbench.synth.dataset import is_sample_dataset


def diagnose(
    dataset,
    loaded,
    out: str | Path,
    *,
    cache_dir: Path | None,
    experiment: str | Path | None = None,
    shortcuts: str | Path | None = None,
    step: float = 0.25,
    progress: Progress | None = None,
) -> dict:
    """Write ``diagnosis.json``, ``diagnosis.md``, ``photos.csv`` (per query/gallery photo),
    ``posts_sides.csv`` (facing sides per post) and the plots of checkpoint ``loaded`` on
    ``dataset`` into ``out`` and return the diagnosis dict. ``experiment``: a folder holding
    ``results.csv``; ``shortcuts``: a ``posts.csv``. ValueError for unusable inputs."""  # fmt: skip
    results = pollution.read_results(Path(experiment) / "results.csv") if experiment else None
    posts = pollution.read_posts(shortcuts) if shortcuts else None
    if posts is not None:
        known = set(dataset.table["post_id"].astype(str))
        if not set(posts["post_id"]) & known:
            raise ValueError(
                f"{shortcuts} names none of this dataset's posts; was it written for another "
                "dataset? Run the shortcut finder on this one"
            )
    truth, note = None, "not a sample dataset: no facing sides to score against"
    root = Path(dataset.root)
    if is_sample_dataset(root):
        images = dataset.table[dataset.table["split"] != "train"]["image"]
        try:
            truth = side_truth(sample_sides(root, images))
            note = "the sample generator's sides, replayed from its seed"
        except ValueError as exc:
            note = str(exc)
    perception = DiskCache(cache_dir, "perception") if cache_dir is not None else None
    m = measure(dataset, loaded, cache_dir=cache_dir, perception_cache=perception,
                truth_sides=truth, progress=progress)  # fmt: skip
    d = report.build(m, results, posts, dataset_name=str(dataset.source), step=step)
    d["pose"]["side_truth_note"] = note
    if experiment:
        d["polluted"]["verdicts"] = pollution.read_verdicts(Path(experiment) / "results.json")
    report.write(d, out, {"photos": m.photos, "posts_sides": m.spread})
    return d
