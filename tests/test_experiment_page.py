"""The Experiments page on an experiment folder written here (known results -> known table)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.apptest import open_app
from workbench.experiment.runner import GRID, RESULT

QUERIES = 10


def _result(arm: str, seed: int, shift: float) -> dict:
    rng = np.random.default_rng(seed)
    ap = np.clip(rng.random(QUERIES) * 0.5 + shift, 0, 1)
    per_query = {
        "query": [f"query/{i}_1.jpg" for i in range(QUERIES)],
        "ap": ap.tolist(),
        "rank1": (ap > 0.4).astype(int).tolist(),
        "clean": [i % 2 for i in range(QUERIES)],
        "has_artifact": [1 - i % 2 for i in range(QUERIES)],
        "decoy": [int(arm == "baseline" and i % 4 == 0) for i in range(QUERIES)],
    }
    metrics = {
        "mAP": float(ap.mean()),
        "rank1": float(np.mean(per_query["rank1"])),
        "mAP_clean": float(ap[1::2].mean()),
        "rank1_clean": 0.5,
        "decoy_rate": float(np.mean(per_query["decoy"][0::2])),
        "reliance_auc": 0.8 if arm == "baseline" else 0.6,
        "reliance_polluted": 0.05,
        "reliance_clean": 0.0,
    }
    return {"run": f"{arm}-s{seed}", "arm": arm, "seed": seed, "epochs": 2, "train_posts": 9,
            "train_images": 30, "train_seconds": 1.0, "removed_posts": [], "augment": [],
            "metrics": metrics, "per_query": per_query}  # fmt: skip


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments" / "demo"
    runs = [f"{a}-s{s}" for s in range(3) for a in ("baseline", "drop")] + ["repair-s0"]
    for arm, shift in (("baseline", 0.0), ("drop", 0.2)):
        for seed in range(3):
            (folder / "runs" / f"{arm}-s{seed}").mkdir(parents=True)
            result = _result(arm, seed, shift)
            (folder / "runs" / f"{arm}-s{seed}" / RESULT).write_text(json.dumps(result))
    log = folder / "runs" / "repair-s0" / "model" / "train_log.csv"
    log.parent.mkdir(parents=True)
    log.write_text("epoch,lr\n1,0.003\n")  # one epoch of two logged: still running
    (folder / GRID).write_text(json.dumps({"epochs": 2, "seeds": [0, 1, 2], "runs": runs}))
    return folder


def test_experiments_page_shows_progress_verdicts_and_deltas(
    app_world, experiment, tmp_path, monkeypatch
):
    at = open_app(app_world, tmp_path, monkeypatch, "experiments")
    assert not at.error, [e.value for e in at.error]
    assert at.text_input(key="experiments.folder").value == str(experiment)
    tables = {tuple(df.value.columns): df.value for df in at.dataframe}
    pending = next(v for k, v in tables.items() if "epochs done" in k)
    assert pending.to_dict("records") == [{"run": "repair-s0", "epochs done": 1, "of": 2}]
    deltas = next(v for k, v in tables.items() if "effect" in k)
    row = deltas[(deltas["arm"] == "drop") & (deltas["metric"] == "mAP")].iloc[0]
    assert row["delta"] == pytest.approx(0.2, abs=1e-9)  # every AP shifted by 0.2
    assert row["effect"] == "better"
    decoy = deltas[(deltas["arm"] == "drop") & (deltas["metric"] == "decoy rate")].iloc[0]
    assert decoy["delta"] == pytest.approx(-0.6) and decoy["effect"] == "better"
    verdicts = " ".join(m.value for m in at.markdown)
    assert "drop: mAP +0.200" in verdicts
