"""Near-copy thresholds chosen on reposts generated from real photos; precision and recall.

    python benchmarks/bench_reposts.py [--photos /work/shared/real_pets] [--out /tmp/reposts]

Builds every photo's reposts (:mod:`curation.reposts`: JPEG 30/60, half size, crops keeping
80 % / 65 % of each side, a text line, a sticker, a colour shift, a new segmentation, a
combination) in a temporary folder, then scores pairs:

- positives: each photo with each of its reposts;
- negatives, "same post": two different photos of one post, each as posted and each against the
  other's reposts (the hard case: one animal, often one place and pose);
- negatives, "other posts": two photos of different posts.

Source pairs that are themselves the same picture (found by eye in the real photos, listed in
KNOWN_COPIES) are left out of the negatives. For the local-keypoint evidence it prints the
smallest threshold that keeps precision >= 0.99 on each negative set, then precision and recall
of the finder's defaults per transform, next to the pHash + thumbnail rule alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dataset import load_dataset
from curation.images import load_rgb
from curation.reposts import TRANSFORMS, build_reposts
from explain.retrieval.copies import compare_pairs, local_features
from explain.retrieval.duplicates import Thresholds, _thumb_difference, hamming, image_hashes

# pairs of the real photos that are one picture twice (crop, new mask or colour filter)
KNOWN_COPIES = {
    ("10640_10", "10640_8"), ("10640_2", "10640_7"), ("10684_2", "10684_3"),
    ("10687_1", "10687_9"), ("10687_2", "10687_6"), ("10911_1", "10911_6"),
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("WORKBENCH_REAL_PETS", "/work/shared/real_pets")
    ap.add_argument("--photos", type=Path, default=Path(default))
    ap.add_argument("--out", type=Path, default=None, help="keep the generated set here")
    ap.add_argument("--precision", type=float, default=0.99)
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)
    src = load_dataset(args.photos)
    photos = [(r.post_id, Path(r.image).stem, src.path(r.image)) for r in src.table.itertuples()]
    out = args.out or Path(tempfile.mkdtemp(prefix="reposts-"))
    t0 = time.perf_counter()
    table = build_reposts(photos, out)
    ds = load_dataset(out / "manifest.csv")
    print(f"{len(photos)} photos -> {len(table)} files in {out} ({time.perf_counter() - t0:.1f} s)")
    table = ds.table
    stems, posts = table["source"].to_numpy(), table["post_id"].to_numpy()
    transform = table["transform"].to_numpy()
    orig = {s: i for i, (s, t) in enumerate(zip(stems, transform, strict=True)) if t == "original"}
    pos, same, other = [], [], []
    by_stem: dict[str, list[int]] = {}
    for i, s in enumerate(stems):
        by_stem.setdefault(s, []).append(i)
    for s, members in by_stem.items():
        pos += [(orig[s], m) for m in members if m != orig[s]]
    names = sorted(orig)
    for a_n, a in enumerate(names):
        for b in names[a_n + 1 :]:
            if (a, b) in KNOWN_COPIES or (b, a) in KNOWN_COPIES:
                continue
            ia, ib = orig[a], orig[b]
            if posts[ia] == posts[ib]:
                same += [(ia, m) for m in by_stem[b]] + [(ib, m) for m in by_stem[a] if m != ia]
            else:
                other.append((ia, ib))
    print(f"pairs: {len(pos)} positive, {len(same)} same-post negative, {len(other)} other-post")
    t0 = time.perf_counter()
    feats = [local_features(np.asarray(load_rgb(ds.path(i)))) for i in table["image"]]
    t_feat = time.perf_counter() - t0
    hashes = image_hashes(ds)
    scores = {}
    t0 = time.perf_counter()
    for name, pairs in (("pos", pos), ("same", same), ("other", other)):
        ii, jj = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        scores[name] = {
            "inliers": compare_pairs(feats, ii, jj),
            "hash": hamming(hashes.phash[ii], hashes.phash[jj]),
            "pixels": _thumb_difference(hashes.thumbs, ii, jj),
            "transform": transform[jj],
        }
    n_pairs = len(pos) + len(same) + len(other)
    t_cmp = time.perf_counter() - t0
    print(f"features {t_feat / len(feats) * 1000:.0f} ms/photo, comparison "
          f"{t_cmp / n_pairs * 1000:.2f} ms/pair (one thread)")  # fmt: skip
    _choose(scores, args.precision)
    _report(scores, Thresholds())
    _end_to_end(out, table)


def _end_to_end(out: Path, table) -> None:
    """The finder itself at its defaults, every file its own post (so only the colour
    neighbours and pHash propose pairs, as for a repost under another post id)."""
    import pandas as pd

    from explain.retrieval.duplicates import find_duplicates

    solo = table.assign(post_id=table["image"].str.replace("/", "-", regex=False), photo=1, camid=1)
    solo.to_csv(out / "solo.csv", index=False)
    ds = load_dataset(out / "solo.csv", root=out)
    t0 = time.perf_counter()
    dup = find_duplicates(ds)
    took = time.perf_counter() - t0
    src = dict(zip(table["image"], table["source"], strict=True))
    pairs = dup.pairs
    a, b = pairs["image_a"].map(src), pairs["image_b"].map(src)
    known = {frozenset(p) for p in KNOWN_COPIES}
    same_source = a == b
    known_copy = pd.Series([frozenset((x, y)) in known for x, y in zip(a, b, strict=True)])
    orig = set(table.loc[table["transform"] == "original", "image"])
    pos = same_source & (pairs["image_a"].isin(orig) | pairs["image_b"].isin(orig))
    n_pos = int((table["transform"] != "original").sum())
    false = ~same_source & ~known_copy.to_numpy()
    print(
        f"\nend to end, every file its own post ({len(ds.table)} files, {took:.0f} s): "
        f"{int(pos.sum())} of {n_pos} photo-repost pairs found (recall "
        f"{pos.sum() / n_pos:.3f}); {int(false.sum())} flagged pairs of different photos, "
        f"{int(known_copy.sum())} between the known copies; {len(pairs)} pairs in all"
    )


def _choose(scores: dict, target: float) -> None:
    tp_all = scores["pos"]["inliers"]
    print(
        f"\nsmallest inlier threshold with precision >= {target} (positives vs each negative set)"
    )
    for neg in ("same", "other"):
        fp_all = scores[neg]["inliers"]
        for t in range(1, 400):
            tp, fp = int((tp_all >= t).sum()), int((fp_all >= t).sum())
            if tp and tp / (tp + fp) >= target:
                print(f"  {neg:>5}-post negatives: {t} (recall {tp / len(tp_all):.3f}, "
                      f"false pairs {fp} of {len(fp_all)}; largest negative "
                      f"{int(fp_all.max())})")  # fmt: skip
                break


def _decide(s: dict, th: Thresholds, scope: str, local: bool) -> np.ndarray:
    max_d, max_px, _ = th.for_scope(scope)
    hit = (s["hash"] <= max_d) & (s["pixels"] <= max_px)
    return hit | (s["inliers"] >= th.copy_inliers) if local else hit


def _report(scores: dict, th: Thresholds) -> None:
    print(f"\ndefaults: copy_inliers {th.copy_inliers}, pHash {th.intra_hash}/{th.inter_hash} "
          f"bits, pixels {th.intra_pixels}/{th.inter_pixels} (intra/inter)")  # fmt: skip
    rules = (("pHash+thumb, intra-post", "intra-post", False),
             ("pHash+thumb, inter-post", "inter-post", False),
             ("finder (keypoints or pHash), intra", "intra-post", True),
             ("finder (keypoints or pHash), inter", "inter-post", True))  # fmt: skip
    head = f"{'transform':<12}" + "".join(f"{r[0][:22]:>24}" for r in rules)
    print("recall per transform\n" + head)
    p = scores["pos"]
    for t in TRANSFORMS:
        sel = p["transform"] == t
        line = f"{t:<12}"
        for _, scope, local in rules:
            line += f"{_decide(p, th, scope, local)[sel].mean():>24.3f}"
        print(line)
    print("\nrule                                 recall  FP same-post  FP other-post  precision*")
    for name, scope, local in rules:
        tp = int(_decide(p, th, scope, local).sum())
        fs = int(_decide(scores["same"], th, scope, local).sum())
        fo = int(_decide(scores["other"], th, scope, local).sum())
        prec = tp / (tp + fs + fo) if tp + fs + fo else float("nan")
        print(f"{name:<36} {tp / len(p['hash']):>6.3f}  {fs:>5}/{len(scores['same']['hash']):<6}"
              f" {fo:>5}/{len(scores['other']['hash']):<7} {prec:.3f}")  # fmt: skip
    print("* precision over all the pairs scored here (positives + both negative sets)")


if __name__ == "__main__":
    main()
