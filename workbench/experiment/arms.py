"""The arms of a curation experiment: which training data (and augmentations) each one gets.

- ``baseline``: every train post;
- ``drop``: without the posts the export rules remove (default ``homogeneous_artifact`` on the
  manifest's artifacts: the rule the curated series used);
- ``repair``: every post, the photos ``drop`` would remove inpainted (:mod:`curation.repair`);
- ``augment``: every post, trained with random gamma/brightness and random erasing of the
  annotated artifact regions (:mod:`workbench.augment`);
- ``random-drop``: the control, as many posts as ``drop`` removes, drawn at random (per seed)
  from the posts ``drop`` keeps;
- ``fraction-F``: a random share ``F`` of the train posts (per seed), a learning curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curation.dataset import Dataset, load_dataset
from curation.repair import repair
from curation.rules.apply import apply_rules

REMEDIES = ("drop", "repair", "augment", "random-drop")
ARMS = ("baseline", *REMEDIES)
DEFAULT_DROP_RULES = "homogeneous_artifact:source=manifest"
SHORTCUT_AUGMENT = ("random_gamma", "artifact_erasing")


@dataclass(frozen=True)
class Arm:
    """One arm's data: the dataset folder to train on, the train posts to leave out (per seed
    for the random arms), extra augmentations."""

    name: str
    root: str
    removed: dict[int, list[str]] = field(default_factory=dict)
    augment: tuple[str, ...] = ()

    def removed_for(self, seed: int) -> list[str]:
        return self.removed.get(seed, self.removed.get(-1, []))


def fraction_name(fraction: float) -> str:
    return f"fraction-{fraction:g}"


def check_arms(arms: list[str], fractions: list[float]) -> None:
    """ValueError naming an unknown arm or a fraction outside (0, 1)."""
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
    if "baseline" not in arms:
        raise ValueError("the arms must include baseline: every remedy is compared with it")
    bad = [f for f in fractions if not 0.0 < f < 1.0]
    if bad:
        raise ValueError(f"--fractions must lie strictly between 0 and 1, not {bad}")


def train_posts(dataset: Dataset) -> list[str]:
    return sorted(dataset.split("train")["post_id"].unique())


def rule_posts(dataset: Dataset, rules: str = DEFAULT_DROP_RULES) -> list[str]:
    """Train posts the export ``rules`` remove entirely (sorted)."""
    kept, _ = apply_rules(dataset, rules)
    left = set(kept.loc[kept["split"] == "train", "post_id"])
    return [p for p in train_posts(dataset) if p not in left]


def random_posts(pool: list[str], n: int, seed: int, stream: int) -> list[str]:
    """``n`` posts of ``pool`` drawn without replacement by ``(seed, stream)`` (sorted)."""
    if n > len(pool):
        raise ValueError(f"cannot draw {n} posts from {len(pool)}")
    rng = np.random.default_rng([seed, stream])
    return sorted(str(p) for p in rng.choice(sorted(pool), n, replace=False))


def subset(dataset: Dataset, removed: list[str]) -> Dataset:
    """The dataset without the train rows of ``removed`` posts (query and gallery untouched)."""
    gone = (dataset.table["split"] == "train") & dataset.table["post_id"].isin(set(removed))
    table = dataset.table[~gone].reset_index(drop=True)
    return Dataset(dataset.root, table, [], dataset.source, dataset.follow_links)


def prepare_arms(
    dataset: Dataset,
    work_dir: str | Path,
    arms: list[str],
    seeds: list[int],
    fractions: list[float] = (),
    drop_rules: str = DEFAULT_DROP_RULES,
    repair_method: str = "inpaint",
) -> dict[str, Arm]:
    """Every arm's :class:`Arm`; writes the repaired copy to ``work_dir/repaired`` once (a later
    call reuses it) and ``work_dir/arms.json`` (the posts each arm leaves out)."""
    check_arms(arms, list(fractions))
    work_dir = Path(work_dir)
    root = str(dataset.root)
    posts = train_posts(dataset)
    dropped = (
        rule_posts(dataset, drop_rules) if {"drop", "repair", "random-drop"} & set(arms) else []
    )
    if {"drop", "random-drop"} & set(arms) and not dropped:
        raise ValueError(f"the drop rules {drop_rules!r} remove no train post: nothing to compare")
    out: dict[str, Arm] = {}
    for name in arms:
        if name == "baseline":
            out[name] = Arm(name, root)
        elif name == "drop":
            out[name] = Arm(name, root, {-1: dropped})
        elif name == "random-drop":
            pool = [p for p in posts if p not in set(dropped)]
            removed = {s: random_posts(pool, len(dropped), s, 1) for s in seeds}
            out[name] = Arm(name, root, removed)
        elif name == "augment":
            out[name] = Arm(name, root, augment=SHORTCUT_AUGMENT)
        elif name == "repair":
            out[name] = Arm(
                name, str(_repaired(dataset, work_dir / "repaired", dropped, repair_method))
            )
    for k, f in enumerate(fractions):
        keep = {
            s: set(random_posts(posts, max(1, round(f * len(posts))), s, 100 + k)) for s in seeds
        }
        removed = {s: [p for p in posts if p not in keep[s]] for s in seeds}
        out[fraction_name(f)] = Arm(fraction_name(f), root, removed)
    record = {
        n: {
            "root": a.root,
            "augment": list(a.augment),
            "removed": {str(s): v for s, v in a.removed.items()},
        }
        for n, a in out.items()
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "arms.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    return out


def _repaired(dataset: Dataset, target: Path, posts: list[str], method: str) -> Path:
    if (target / "provenance.json").is_file():
        return target
    train = dataset.split("train")
    images = train.loc[train["post_id"].isin(set(posts)), "image"]
    return repair(dataset, target, set(images), method=method).out_dir


def arm_dataset(arm: Arm, seed: int) -> Dataset:
    """The dataset one run of ``arm`` trains on."""
    return subset(load_dataset(arm.root, check="none"), arm.removed_for(seed))
