"""Train and measure every run of an experiment grid, resumably.

Layout of the experiment folder::

    experiment.json           the grid (data, arms, seeds, epochs, recipe) and its run names
    arms.json                 the posts each arm leaves out
    repaired/                 the repaired copy of the data (the repair arm trains on it)
    runs/ARM-sSEED/model/     the run's checkpoint (torchreid format), recipe.json, train_log.csv
    runs/ARM-sSEED/result.json  written last, atomically: the run is finished when it exists

A re-run skips every run with a ``result.json``; a killed run (no ``result.json``) starts over,
so a ``kill -9`` loses at most the runs that were training.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from multiprocessing import get_context
from pathlib import Path

from PIL import Image

from curation.dataset import Dataset, load_dataset
from workbench.experiment.arms import Arm, arm_dataset, prepare_arms
from workbench.experiment.measure import measure_checkpoint, needs_ground_truth
from workbench.recipe import Recipe

RESULT = "result.json"
GRID = "experiment.json"


def run_name(arm: str, seed: int) -> str:
    return f"{arm}-s{seed}"


def base_recipe(dataset: Dataset, epochs: int) -> Recipe:
    """The one recipe every run uses: the default recipe at the photos' own size, ``epochs``
    epochs, one checkpoint at the end (the seed is set per run)."""
    first = dataset.split("train")["image"].iloc[0]
    with Image.open(dataset.path(first)) as im:
        width, height = im.size
    return Recipe(height=height, width=width, epochs=epochs, save_at=(epochs,))


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as JSON atomically (a temporary sibling renamed into place)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _grid_record(data: Path, arms: dict[str, Arm], seeds: list[int], recipe: Recipe) -> dict:
    names = [run_name(a, s) for s in seeds for a in arms]
    return {
        "data": str(data),
        "arms": list(arms),
        "seeds": seeds,
        "epochs": recipe.epochs,
        "recipe": recipe.to_dict(),
        "runs": names,
    }


def _check_grid(out_dir: Path, record: dict) -> None:
    path = out_dir / GRID
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    for key in ("data", "recipe"):
        if old.get(key) != record[key]:
            raise ValueError(
                f"{out_dir} holds an experiment with another {key} ({old.get(key)!r}); "
                "finished runs would not be comparable: choose a new --out folder"
            )


def run_grid(
    data: str | Path,
    out_dir: str | Path,
    *,
    arms: list[str],
    seeds: list[int],
    epochs: int,
    fractions: list[float] = (),
    jobs: int = 1,
    drop_rules: str | None = None,
    progress: Callable[[str, dict], None] | None = None,
) -> list[dict]:
    """Run every (arm, seed) of the grid that has no result yet, ``jobs`` at a time (one torch
    thread each); returns the results of all runs of the grid (finished before or now).

    ``progress(event, info)``: ``"skip"`` / ``"start"`` / ``"done"`` with the run's name."""
    data = Path(data).absolute()
    out_dir = Path(out_dir).absolute()
    if out_dir == data or out_dir.is_relative_to(data):
        raise ValueError(f"--out {out_dir} lies inside the data folder {data}; choose another")
    if jobs < 1 or epochs < 1:
        raise ValueError(f"--jobs and --epochs must be at least 1 (got {jobs}, {epochs})")
    dataset = load_dataset(data, check="none")
    needs_ground_truth(dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = base_recipe(dataset, epochs)
    opts = {"drop_rules": drop_rules} if drop_rules else {}
    prepared = prepare_arms(dataset, out_dir, arms, seeds, fractions, **opts)
    record = _grid_record(data, prepared, seeds, recipe)
    _check_grid(out_dir, record)
    write_json(out_dir / GRID, record)
    todo = []
    for seed in seeds:  # seed-major: a grid stopped halfway has whole seeds
        for arm in prepared.values():
            name = run_name(arm.name, seed)
            if (out_dir / "runs" / name / RESULT).is_file():
                if progress:
                    progress("skip", {"run": name})
                continue
            todo.append({"data": str(data), "out": str(out_dir), "arm": asdict(arm), "seed": seed,
                         "recipe": replace(recipe, seed=seed).to_dict()})  # fmt: skip
    if jobs == 1:
        for spec in todo:
            if progress:
                progress("start", {"run": run_name(spec["arm"]["name"], spec["seed"])})
            done = run_one(spec)
            if progress:
                progress("done", done)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_one, spec) for spec in todo]
            for fut in as_completed(futures):
                done = fut.result()
                if progress:
                    progress("done", done)
    return load_results(out_dir)


def run_one(spec: dict) -> dict:
    """Train one run (one torch thread) and measure its last checkpoint on the full data."""
    from explain.models.device import set_threads
    from workbench.train import train

    set_threads(1)
    arm = Arm(**{**spec["arm"], "augment": tuple(spec["arm"]["augment"])})
    arm = replace(arm, removed={int(k): v for k, v in arm.removed.items()})
    seed = int(spec["seed"])
    recipe = Recipe.from_dict(spec["recipe"])
    recipe = replace(recipe, augment=tuple(recipe.augment) + arm.augment)
    name = run_name(arm.name, seed)
    run_dir = Path(spec["out"]) / "runs" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    train_set = arm_dataset(arm, seed)
    t0 = time.perf_counter()
    trained = train(train_set, run_dir / "model", recipe, threads=1, overwrite=True, evaluate=False)
    seconds = time.perf_counter() - t0
    metrics, pq = measure_checkpoint(
        trained.checkpoints[-1], load_dataset(spec["data"], check="none")
    )
    train_rows = train_set.split("train")
    result = {
        "run": name,
        "arm": arm.name,
        "seed": seed,
        "epochs": recipe.epochs,
        "train_posts": int(train_rows["post_id"].nunique()),
        "train_images": len(train_rows),
        "removed_posts": arm.removed_for(seed),
        "augment": list(recipe.augment),
        "train_seconds": round(seconds, 1),
        "metrics": metrics,
        "per_query": pq.to_dict("list"),
    }
    write_json(run_dir / RESULT, result)
    return result


def load_results(out_dir: str | Path) -> list[dict]:
    """Every finished run's result in the experiment folder (sorted by run name)."""
    runs = Path(out_dir) / "runs"
    paths = sorted(runs.glob(f"*/{RESULT}")) if runs.is_dir() else []
    return [json.loads(p.read_text()) for p in paths]
