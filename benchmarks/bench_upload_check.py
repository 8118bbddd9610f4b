"""What a decompression-bomb upload costs: the Search page's check versus decoding it.

A 12000×12000 black PNG is about 420 KB on disk and 432 MB as RGB pixels. The page now checks
``workbench.access.check_upload`` (bytes, then the header's width × height, before any decode);
before, it wrote the file and decoded it (``curation.images.load_rgb``). Each side runs in its
own fresh process, so the peak RSS is that process's alone; printed side by side.

    python benchmarks/bench_upload_check.py [--side 12000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import resource, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
path, mode = Path(sys.argv[1]), sys.argv[2]
data = path.read_bytes()
if mode == "check":
    from workbench.access import AccessError, check_upload
else:
    from curation.images import load_rgb
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if mode == "check":
    try:
        check_upload(data, path.name)
        outcome = "accepted"
    except AccessError:
        outcome = "refused"
else:
    load_rgb(path)
    outcome = "decoded"
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{outcome} {dt:.4f} {(peak - before) / 1024:.1f}")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=12000, help="width = height in pixels")
    args = ap.parse_args()
    from tests.adversarial.app_inputs import bomb_png

    data = bomb_png(args.side, args.side)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.png"
        path.write_bytes(data)
        rows = {}
        for mode in ("check", "decode"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), mode], cwd=ROOT, capture_output=True,
                text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""},
            )  # fmt: skip
            outcome, seconds, mb = out.stdout.split()
            rows[mode] = (outcome, float(seconds), float(mb))
    print(f"{args.side}×{args.side} PNG, {len(data) / 1e3:.0f} KB on disk")
    for mode, (outcome, seconds, mb) in rows.items():
        print(f"  {mode:6s}: {outcome:8s} {seconds * 1000:8.1f} ms, +{mb:7.1f} MB peak RSS")
    c, d = rows["check"], rows["decode"]
    print(f"  decode / check: {d[1] / max(c[1], 1e-9):.0f}× the time, +{d[2] - c[2]:.0f} MB")


if __name__ == "__main__":
    main()
