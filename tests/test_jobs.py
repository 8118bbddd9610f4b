"""Background jobs: states, the one-job lock, the log, progress, cancel, surviving the starter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import write_image
from workbench.jobs import (
    Job,
    JobRunningError,
    cancel,
    current_job,
    list_jobs,
    parse_progress,
    read_log,
    start,
    start_training,
)


def script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def wait_for(job: Job, text: str, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while text not in read_log(job, None):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the log: {read_log(job, None)!r}")
        time.sleep(0.05)


FAKE_TRAINING = """
    import sys, time
    print("training tiny for 3 epochs", file=sys.stderr)
    for e in (1, 2):
        print(f"epoch {e:3d}/3  loss softmax 1.0 triplet 0.3", flush=True)
    print("waiting", flush=True)
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
    print("epoch   3/3  loss softmax 0.5 triplet 0.1")
"""


def test_a_job_runs_logs_progress_and_succeeds(tmp_path: Path):
    assert current_job(tmp_path) is None
    job = start(tmp_path, [*script(FAKE_TRAINING), "1.5"])
    wait_for(job, "waiting")
    st = job.status()
    assert st["state"] == "running" and st["returncode"] is None and st["finished"] is None
    assert isinstance(st["pid"], int) and st["command"][-1] == "1.5"
    assert job.progress() == (2, 3)
    assert current_job(tmp_path) == job
    assert job.log_path == tmp_path / "jobs" / job.job_id / "log.txt"
    assert job.wait(20) == "succeeded"
    st = job.status()
    assert st["returncode"] == 0 and st["finished"] >= st["started"]
    assert job.progress() == (3, 3)
    assert read_log(job, 2).splitlines() == [
        "waiting",
        "epoch   3/3  loss softmax 0.5 triplet 0.1",
    ]
    assert read_log(job, None).splitlines()[0] == "training tiny for 3 epochs"


def test_one_job_at_a_time_then_the_next(tmp_path: Path):
    first = start(tmp_path, [*script(FAKE_TRAINING), "2"])
    with pytest.raises(
        JobRunningError, match=f"(?s)job {first.job_id} .* is still (running|queued)"
    ):
        start(tmp_path, script("print('second')"))
    assert first.wait(20) == "succeeded"
    second = start(tmp_path, script("import sys; print('second'); sys.exit(3)"))
    assert second.wait(20) == "failed"
    assert second.status()["returncode"] == 3 and read_log(second) == "second"
    assert [j.job_id for j in list_jobs(tmp_path)] == [first.job_id, second.job_id]
    assert current_job(tmp_path) == second


def test_cancel_stops_the_job_and_frees_the_workspace(tmp_path: Path):
    job = start(tmp_path, [*script(FAKE_TRAINING), "60"])
    wait_for(job, "waiting")
    assert cancel(job) == "cancelled"
    st = job.status()
    assert st["state"] == "cancelled" and st["returncode"] == -15
    assert "epoch   3/3" not in read_log(job, None)
    assert cancel(job) == "cancelled"  # a finished job stays as it is
    assert start(tmp_path, script("print('ok')")).wait(20) == "succeeded"


def test_state_survives_the_starting_process(tmp_path: Path):
    starter = f"""
        from workbench.jobs import start
        import sys
        job = start({str(tmp_path)!r}, [sys.executable, "-c",
                    "import time; print('alive', flush=True); time.sleep(1.5)"])
        print(job.job_id)
    """
    out = subprocess.run(script(starter), capture_output=True, text=True, check=True, timeout=30)
    job = current_job(tmp_path)
    assert job is not None and job.job_id == out.stdout.strip()
    wait_for(job, "alive")
    assert job.state == "running"  # the starter has exited; the wrapper lives on
    assert job.wait(20) == "succeeded"


def test_a_vanished_wrapper_reads_as_failed(tmp_path: Path):
    job = start(tmp_path, script("import time; time.sleep(60)"))
    pid = job.status()["pid"]
    import os
    import signal

    os.killpg(pid, signal.SIGKILL)  # no result.json will ever be written
    assert job.wait(20) == "failed" and job.status()["returncode"] is None


def test_parse_progress():
    assert parse_progress("") == (0, 0)
    assert parse_progress("training x for 60 epochs\nbar 0%\r") == (0, 60)
    log = "for 60 epochs\nepoch   1/60  loss softmax 5\r\x1b[Aepoch  12/60  loss softmax 3\n"
    assert parse_progress(log) == (12, 60)


@pytest.mark.slow
def test_start_training_retrains_with_a_recipe(tmp_path: Path):
    import hashlib
    import json

    from workbench.train import Recipe

    data = tmp_path / "data"
    for post in range(4):
        for photo in range(1, 3):
            write_image(data / "train" / f"{100 + post}_{photo}.jpg", seed=post * 10 + photo)
    recipe = Recipe(height=64, width=32, epochs=2, save_at=(1, 2), batch_size=4, num_instances=2,
                    seed=5)  # fmt: skip
    recipe_file = tmp_path / "baseline" / "recipe.json"
    recipe_file.parent.mkdir()
    recipe_file.write_text(json.dumps({"recipe": recipe.to_dict()}))
    out = tmp_path / "series"
    job = start_training(
        tmp_path / "ws",
        ["--data", str(data), "--out", str(out), "--recipe", str(recipe_file), "--threads", "1"],
    )
    assert job.wait(120) == "succeeded", read_log(job)
    assert job.progress() == (2, 2)
    assert sorted(p.name for p in out.glob("model.pth.tar-*")) == [
        "model.pth.tar-1",
        "model.pth.tar-2",
    ]
    written = json.loads((out / "recipe.json").read_text())
    assert Recipe.from_dict(written["recipe"]) == recipe
    assert written["based_on"] == {
        "recipe": str(recipe_file),
        "sha256": hashlib.sha256(recipe_file.read_bytes()).hexdigest(),
    }
    assert written["determinism"]["seed"] == 5 and written["threads"] == 1
    assert "trained osnet_x0_25 for 2 epochs" in read_log(job)


def test_read_log_collapses_progress_bar_redraws(tmp_path: Path):
    job = Job(tmp_path / "job")
    assert read_log(job) == ""  # no log yet
    job.dir.mkdir()
    job.log_path.write_bytes(b"start\nbar 1/3\rbar 2/3\rbar 3/3\nepoch   1/3  loss 1\r\n\r\ndone\n")
    assert read_log(job, None).splitlines() == ["start", "bar 3/3", "epoch   1/3  loss 1", "",
                                                "done"]  # fmt: skip
    assert read_log(job, 1) == "done" and read_log(job, 0) == ""
