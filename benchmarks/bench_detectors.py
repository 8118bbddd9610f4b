"""How well and how fast the perception detectors see (one thread).

    python benchmarks/bench_detectors.py [--ocr-sample] [--real ../shared/real_pets]

1. The sample (sample_data/pets), loaded with the *folder* loader so the detectors never see
   the manifest's truth; scored afterwards against its ``artifacts`` and ``mask_*`` columns:
   image-level precision, recall, F1 and mask IoU (regions rasterised vs the true mask).
2. The real photos: image-level precision and recall against labels.csv (made by eye).
3. The animal mask on the real photos: silhouette area against the old "any channel > 16".
4. Speed: photos per second per detector on one core (decoded photos, masks given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract's own threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from curation.dataset import load_folder  # noqa: E402
from curation.perception.catalog import CATALOG, select  # noqa: E402
from curation.perception.measure import image_level, iou, truth_sets  # noqa: E402
from curation.perception.runner import detect_dataset  # noqa: E402
from curation.perception.silhouette import animal_mask, read_photo, threshold_mask  # noqa: E402
from curation.regions import rasterise  # noqa: E402

cv2.setNumThreads(1)
ALIASES = {"text": "text-overlay"}


def fmt(x: float) -> str:
    return "–" if x != x else f"{x:.3f}"


def table(rows: pd.DataFrame, cols: list[str]) -> str:
    head = "| " + " | ".join(cols) + " |\n| " + " | ".join("---" for _ in cols) + " |\n"
    body = ""
    for r in rows[cols].to_dict("records"):
        vals = [fmt(v) if isinstance(v, float) else str(v) for v in r.values()]
        body += "| " + " | ".join(vals) + " |\n"
    return head + body


def sample(root: Path, ocr: bool) -> None:
    ds = load_folder(root)  # folder layout only: no truth columns reach the detectors
    names = [n for n in CATALOG if ocr or CATALOG[n].kind == "pixel"]
    t = time.perf_counter()
    det, _ = detect_dataset(ds, names)
    took = time.perf_counter() - t
    manifest = pd.read_csv(root / "manifest.csv")  # the truth, read only now
    truth = truth_sets(manifest)
    scores = image_level(det, truth, names)
    ious = []
    by_image = manifest.set_index("image")
    for name in scores["artifact"]:
        col = f"mask_{name}"
        vals_tp, vals_pos = [], []
        if col in by_image:
            d = det[det["artifact"] == name].set_index("image")
            for image, path in by_image[col].dropna().items():
                true = np.asarray(Image.open(root / path).convert("L")) >= 128
                h, w = true.shape
                pred = rasterise(json.loads(d.at[image, "region"]), (w, h))
                v = iou(pred, true)
                vals_pos.append(v)
                if d.at[image, "detected"]:
                    vals_tp.append(v)
        ious.append((np.mean(vals_tp) if vals_tp else np.nan,
                     np.mean(vals_pos) if vals_pos else np.nan))  # fmt: skip
    scores["iou_detected"] = [a for a, _ in ious]
    scores["iou_positives"] = [b for _, b in ious]
    scores["threshold"] = [CATALOG[n].threshold for n in scores["artifact"]]
    print(f"## Sample ({len(ds.table)} photos, {took:.1f} s, folder layout, seed-0 sample)\n")
    cols = ["artifact", "threshold", "positives", "detected", "tp", "fp", "fn", "precision",
            "recall", "f1", "iou_detected", "iou_positives"]  # fmt: skip
    print(table(scores, cols))


def real(root: Path) -> None:
    ds = load_folder(root)
    t = time.perf_counter()
    det, _ = detect_dataset(ds, list(CATALOG))
    took = time.perf_counter() - t
    labels = truth_sets(pd.read_csv(root / "labels.csv"))
    truth = {i: labels.get(i, set()) for i in ds.table["image"]}  # not listed: none seen
    scores = image_level(det, truth, list(CATALOG), aliases=ALIASES)
    scores["threshold"] = [CATALOG[n].threshold for n in scores["artifact"]]
    print(f"## Real photos ({len(ds.table)} photos, {took:.1f} s with OCR)\n")
    print(table(scores, ["artifact", "threshold", "positives", "detected", "tp", "fp", "fn",
                         "precision", "recall"]))  # fmt: skip
    for name in CATALOG:
        d = det[(det["artifact"] == name) & det["detected"]]
        label = ALIASES.get(name, name)
        fps = [Path(i).stem for i in d["image"] if label not in truth[i]]
        tps = [Path(i).stem for i in d["image"] if label in truth[i]]
        if tps or fps:
            print(f"- {name}: detected and labelled {', '.join(tps) or '–'}; "
                  f"detected, not labelled {', '.join(fps) or '–'}")  # fmt: skip
    print()
    masks(ds)


def masks(ds) -> None:
    rows = []
    for image in ds.table["image"]:
        rgb, alpha = read_photo(ds.path(image))
        new, old = animal_mask(rgb, alpha), threshold_mask(rgb)
        level = float(np.median(rgb[new.mask].max(axis=1))) if new.mask.any() else 0.0
        rows.append((Path(image).stem, new.kind, new.mask.mean(), old.mean(), level))
    d = pd.DataFrame(rows, columns=["photo", "kind", "new", "old", "level"])
    d["ratio"] = d["new"] / d["old"].clip(lower=1e-9)
    print("## Animal mask on the real photos\n")
    ratio = d["ratio"]
    print(f"kinds: {d['kind'].value_counts().to_dict()}; share of the photo: silhouette median "
          f"{d['new'].median():.3f}, 'any channel > 16' median {d['old'].median():.3f}; "
          f"silhouette / old: median {ratio.median():.2f}, max {ratio.max():.2f}")  # fmt: skip
    dark = d[d["level"] < 70].sort_values("ratio", ascending=False)
    print(f"\ndark animals (median brightest channel of the silhouette < 70): {len(dark)}\n")
    dark = dark.assign(new=dark["new"].round(3), old=dark["old"].round(3),
                       ratio=dark["ratio"].round(2), level=dark["level"].round(0))  # fmt: skip
    print(table(dark.astype({"new": str, "old": str, "ratio": str, "level": str}),
                ["photo", "level", "old", "new", "ratio"]))  # fmt: skip


def speed(root: Path, n_ocr: int) -> None:
    paths = sorted(root.glob("*/*.jpg"))[:300]
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    t = time.perf_counter()
    animals = [animal_mask(p).mask for p in photos]
    rows = [("animal mask (silhouette)", len(photos) / (time.perf_counter() - t))]
    t = time.perf_counter()
    for p in photos[:40]:
        animal_mask(p, method="grabcut")
    rows.append(("animal mask (grabcut)", 40 / (time.perf_counter() - t)))
    for e in select("all"):
        k = n_ocr if e.kind == "ocr" else len(photos)
        t = time.perf_counter()
        for p, a in zip(photos[:k], animals[:k], strict=True):
            e.detect(p, a)
        rows.append((e.name, k / (time.perf_counter() - t)))
    print(f"## Speed (one thread, {photos[0].shape[1]}×{photos[0].shape[0]} photos, decoded)\n")
    print("| step | photos/s |\n| --- | --- |")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} |" if rate >= 10 else f"| {name} | {rate:.1f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=Path, default=ROOT / "sample_data" / "pets")
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real_pets")
    ap.add_argument("--ocr-sample", action="store_true", help="Run OCR on the sample too.")
    ap.add_argument("--ocr-speed", type=int, default=30, help="Photos for the OCR speed.")
    args = ap.parse_args()
    sample(args.sample, args.ocr_sample)
    if (args.real / "labels.csv").is_file():
        real(args.real)
    else:
        print(f"(no real photos at {args.real}: skipped)\n")
    speed(args.sample, args.ocr_speed)


if __name__ == "__main__":
    main()
