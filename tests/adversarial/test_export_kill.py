"""kill -9 at random points of an export (and of a report): the old folder or the new one, never
a mix, and every leftover is proven ours and removed by the next run.

The export runs in a subprocess that counts its file-system calls (write, fsync, open, mkdir,
symlink, rename, unlink, rmdir, the atomic exchange) and kills itself with SIGKILL at call N;
the N are drawn with a fixed seed from the calls a full run makes.
"""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest

from curation.dataset import load_dataset
from curation.export import export
from curation.rules import removal_frame
from tests.adversarial.conftest import _snapshot, run_bounded
from tests.conftest import write_image

KILLER = """
import json, os, signal, sys
from pathlib import Path
import pandas as pd
from curation import replace
from curation.dataset import load_dataset
from curation.export import export
from curation.rules import removal_frame
from explain.compare.comparison import Comparison
from explain.compare.report import write_report

kill_at, what, out, data, exchange = int(sys.argv[1]), *sys.argv[2:6]
calls = 0


def counted(fn):
    def wrapped(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return wrapped


if exchange == "no":
    replace._exchange = lambda a, b: False
replace._exchange = counted(replace._exchange)
for name in ("write", "fsync", "open", "mkdir", "symlink", "rename", "replace", "unlink", "rmdir"):
    setattr(os, name, counted(getattr(os, name)))
if what == "export":
    ds = load_dataset(data)
    gone = ds.table.iloc[:1]
    removals = removal_frame([{"image": gone["image"].iloc[0], "post_id": gone["post_id"].iloc[0],
                               "split": "train", "rule": "r", "cause": "c", "reason": "x"}])
    export(ds, removals, out, layout="copy")
else:
    empty = pd.DataFrame()
    write_report(Comparison(empty, empty, empty, empty, empty, empty, [], [], meta={"v": 2}), out)
print(json.dumps({"calls": calls}))
"""

VOLATILE = ("written.json", "provenance.json")  # hold times and the target's path


def _content(folder: Path) -> dict:
    return {k: v for k, v in _snapshot(folder).items() if k not in VOLATILE}


def _leftovers(out: Path) -> list[str]:
    return sorted(n for n in os.listdir(out.parent)
                  if n.startswith(f".{out.name}.") and not n.endswith(".lock"))  # fmt: skip


def _run(kill_at: int, what: str, out: Path, data: Path, exchange: str = "yes"):
    return run_bounded(["-c", KILLER, str(kill_at), what, str(out), str(data), exchange])


def _old_export(data: Path, out: Path) -> None:
    export(load_dataset(data), removal_frame([]), out)


@pytest.mark.slow
@pytest.mark.parametrize("exchange", ["yes", "no"], ids=["atomic-exchange", "two-renames"])
def test_kill_9_during_export_leaves_old_or_new(tmp_path, exchange):
    data = tmp_path / "data"
    for i, name in enumerate(
        [
            "train/101_1.jpg",
            "train/101_2.jpg",
            "train/102_1.jpg",
            "train/102_2.jpg",
            "query/201_1.jpg",
            "gallery/201_2.jpg",
        ]
    ):
        write_image(data / name, seed=i)  # fmt: skip
    out = tmp_path / "exports" / "clean"
    ref = tmp_path / "reference" / "clean"
    _old_export(data, ref)
    proc = _run(0, "export", ref, data, exchange)  # a full run over an old one: count the calls
    assert proc.returncode == 0, proc.stderr
    total = json.loads(proc.stdout)["calls"]
    new = _content(ref)
    _old_export(data, out)
    old = _content(out)
    assert old != new and total > 40
    points = sorted(random.Random(11).sample(range(1, total + 1), 8 if exchange == "yes" else 5))
    outcomes = []
    for kill_at in points:
        proc = _run(kill_at, "export", out, data, exchange)
        assert proc.returncode == -signal.SIGKILL, (kill_at, proc.stdout, proc.stderr)
        if not out.exists():  # between the two renames: the old export waits beside
            aside = [n for n in _leftovers(out) if ".old-" in n]
            assert len(aside) == 1 and _content(out.parent / aside[0]) == old, kill_at
            outcomes.append("aside")
        else:
            now = _content(out)
            assert now in (old, new), kill_at
            outcomes.append("old" if now == old else "new")
        _old_export(data, out)  # recovers, then puts the old export back for the next kill
        assert _content(out) == old and _leftovers(out) == [], (kill_at, _leftovers(out))
    assert "old" in outcomes and "new" in outcomes, outcomes


@pytest.mark.slow
def test_kill_9_during_report_leaves_old_or_new(tmp_path):
    import pandas as pd

    from explain.compare.comparison import Comparison
    from explain.compare.report import write_report

    def old_report(out: Path) -> None:
        empty = pd.DataFrame()
        write_report(Comparison(empty, empty, empty, empty, empty, empty, [], [],
                                meta={"v": 1}), out)  # fmt: skip

    out, ref = tmp_path / "r" / "report", tmp_path / "ref" / "report"
    old_report(ref)
    proc = _run(0, "report", ref, tmp_path)
    assert proc.returncode == 0, proc.stderr
    total = json.loads(proc.stdout)["calls"]
    new = _content(ref)
    old_report(out)
    old = _content(out)
    assert old != new and total > 10
    for kill_at in sorted(random.Random(5).sample(range(1, total + 1), 4)):
        proc = _run(kill_at, "report", out, tmp_path)
        assert proc.returncode == -signal.SIGKILL, (kill_at, proc.stderr)
        assert _content(out) in (old, new), kill_at
        old_report(out)
        assert _content(out) == old and _leftovers(out) == [], (kill_at, _leftovers(out))
