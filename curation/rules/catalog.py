"""Every curation rule, declared once: its name, the function that runs it, the inputs it reads,
what it does, and its parameters with their choices, labels and defaults.

:func:`~curation.rules.apply.apply_rules` runs rules from here, the ``workbench export`` help
lists them from here, and the Curate page draws its controls from here. A new rule is one module
in curation/rules/ with a pure function (table and inputs in, removal table out) plus one
:class:`Rule` record in :data:`CATALOG`.

Inputs a rule may read besides the manifest table (:data:`INPUTS`):

``tags``        the store's current tags (:meth:`TagStore.current`)
``detections``  the store's detections, machine tags (:meth:`TagStore.detections`)
``post_flags``  the store's post flags (:meth:`TagStore.post_flags`)
``duplicates``  the duplicate table (``workbench duplicates`` output)
``quality``     pixel measures (computed from the image files when not given)
``shortcuts``   post shortcut scores (``workbench shortcuts`` output, posts.csv)
``dataset``     the image files themselves (to measure them)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation.rules.base import removal_frame
from curation.rules.decisions import exclude_by_tags, one_animal_per_post
from curation.rules.duplicates import duplicates
from curation.rules.homogeneous import homogeneous_artifact
from curation.rules.quality import quality_flags
from curation.rules.shortcut import shortcut
from curation.rules.sources import (
    SOURCE_LABELS,
    SOURCES,
    STORE_SOURCES,
    artifact_table,
    detected_rows,
)
from curation.vocabulary import BUCKETS, EXCLUDE, FLAGS, MULTIPLE_ANIMALS, SPLITS

INPUTS = ("tags", "detections", "post_flags", "duplicates", "quality", "dataset", "shortcuts")
# what a missing input means for the user, and how to give it ({rule} is the rule's name)
MISSING = {
    "tags": "rule {rule} needs the store's tags; pass the tag store (--store)",
    "post_flags": "rule {rule} needs the store's post flags; pass the tag store (--store)",
    "detections": "rule {rule} needs the store's detections; pass the tag store (--store)",
    "duplicates": "rule {rule} needs the duplicate table; run `workbench duplicates` and pass "
    "its CSV with --duplicates",
    "shortcuts": "rule {rule} needs the post shortcut scores; run `workbench shortcuts` and pass "
    "its posts.csv",
}
# value sets that depend on the data (the page fills them in; the CLI takes any value)
ARTIFACT_TAGS, ANNOTATORS = "artifact tags", "annotators"


@dataclass(frozen=True)
class Param:
    """One tunable parameter of a rule.

    ``kind``: ``bool``, ``int``, ``float``, ``choice`` (one of ``choices``) or ``multi`` (a tuple
    drawn from ``choices``; a default of None means "all"). ``choices``: the allowed values, or
    the name of a value set that depends on the data (:data:`ARTIFACT_TAGS`, :data:`ANNOTATORS`).
    ``truth_default``: the default when the dataset carries the sample's ground truth, if it
    differs. ``choice_labels``: ``(value, label)`` pairs saying what each choice means, for
    people (pages and the help show them)."""

    name: str
    kind: str
    default: Any
    label: str
    choices: tuple | str = ()
    truth_default: Any = None
    choice_labels: tuple[tuple[Any, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("bool", "int", "float", "choice", "multi"):
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")


UNKNOWN = Param(
    "unknown", "choice", "raise", "tags on images not in the dataset", ("raise", "ignore")
)
SPLITS_PARAM = Param("splits", "multi", ("train",), "splits it removes from", SPLITS)


@dataclass(frozen=True)
class RuleInputs:
    """What rules read besides their parameters; None when not given."""

    dataset: Any
    tags: pd.DataFrame | None = None
    detections: pd.DataFrame | None = None
    post_flags: pd.DataFrame | None = None
    duplicates: pd.DataFrame | None = None
    quality: pd.DataFrame | None = None
    progress: Callable[[int, int], None] | None = None
    shortcuts: pd.DataFrame | None = None

    @property
    def table(self) -> pd.DataFrame:
        return self.dataset.table


@dataclass(frozen=True)
class Rule:
    """One curation rule. ``run(inputs, params)`` returns its removal table (``params``: every
    declared parameter, defaults filled in); ``needs`` names the inputs it cannot run without,
    ``reads`` every input it may use; ``on_by_default``: switched on when the Curate page
    opens."""

    name: str
    run: Callable[[RuleInputs, dict[str, Any]], pd.DataFrame]
    summary: str
    description: str
    params: tuple[Param, ...]
    reads: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    on_by_default: bool = False

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


# -- how each rule is fed ----------------------------------------------------------------------


def _source(inp: RuleInputs, p: dict[str, Any], rule: str, choices: tuple) -> pd.DataFrame:
    """The ``image, artifacts`` table of the source named in ``p`` (popping the source's
    parameters from ``p``)."""
    return artifact_table(
        inp.table, inp.tags, inp.detections, p.pop("source"), rule=rule,
        min_score=p.pop("min_score"), confirmed_only=p.pop("confirmed_only"), choices=choices,
    )  # fmt: skip


def _run_homogeneous(inp: RuleInputs, p: dict[str, Any]) -> pd.DataFrame:
    tags = _source(inp, p, "homogeneous_artifact", SOURCES)
    return homogeneous_artifact(inp.table, tags, **p)


def _run_duplicates(inp: RuleInputs, p: dict[str, Any]) -> pd.DataFrame:
    return duplicates(inp.duplicates, inp.table, **p)


def _run_one_animal(inp: RuleInputs, p: dict[str, Any]) -> pd.DataFrame:
    images = inp.tags if p.pop("images") else None
    return one_animal_per_post(inp.table, inp.post_flags, image_flags=images, **p)


def _run_exclude(inp: RuleInputs, p: dict[str, Any]) -> pd.DataFrame:
    post_flags = inp.post_flags if p.pop("posts") else None
    source, min_score, confirmed_only = p.pop("source"), p.pop("min_score"), p.pop("confirmed_only")
    if source not in STORE_SOURCES:
        raise ValueError(
            f"exclude_by_tags: source must be one of {', '.join(STORE_SOURCES)}, not {source!r}"
        )
    if source != "tags" and inp.detections is None:
        raise ValueError(MISSING["detections"].format(rule=f"exclude_by_tags:source={source}"))
    human = inp.tags if source != "detected" else inp.tags.assign(artifacts="")
    parts = [exclude_by_tags(inp.table, human, post_flags=post_flags, **p)]
    if source != "tags" and p["artifacts"]:
        hits = detected_rows(inp.detections, min_score=min_score, confirmed_only=confirmed_only)
        hits = hits[hits["artifact"].isin(set(p["artifacts"]))]
        meta = inp.table[inp.table["split"].isin(list(p["splits"]))].set_index("image")
        rows = [
            {"image": h["image"], "post_id": meta.loc[h["image"], "post_id"],
             "split": meta.loc[h["image"], "split"], "rule": "exclude_by_tags",
             "cause": f"artifact:{h['artifact']}",
             "reason": f"{h['image']} is detected as {h['artifact']} ({h['by']})"}
            for h in hits.to_dict("records") if h["image"] in meta.index
        ]  # fmt: skip
        parts.append(removal_frame(rows))
    return removal_frame(pd.concat(parts).to_dict("records"))


def _run_quality(inp: RuleInputs, p: dict[str, Any]) -> pd.DataFrame:
    quality = inp.quality
    if quality is None:
        from curation.quality import measure_images

        rows = inp.table[inp.table["split"].isin(list(p["splits"]))]
        quality = measure_images(inp.dataset, rows["image"], progress=inp.progress)
    return quality_flags(inp.table, quality, **p)


def _source_params(choices: tuple[str, ...], truth_default: str | None = None) -> tuple:
    """The ``source``, ``min_score`` and ``confirmed_only`` parameters of an artifact rule."""
    return (
        Param(
            "source", "choice", "tags", "where the artifacts come from", choices,
            truth_default=truth_default,
            choice_labels=tuple((c, SOURCE_LABELS[c]) for c in choices),
        ),
        Param("min_score", "float", 0.0, "detections: lowest score counted, on top of each "
              "detector's own threshold (0..1)"),
        Param("confirmed_only", "bool", False, "detections: only those an annotator confirmed"),
    )  # fmt: skip


def _run_shortcut(inp: RuleInputs, p: dict[str, Any]) -> pd.DataFrame:
    return shortcut(inp.table, inp.shortcuts, **p)


CATALOG: tuple[Rule, ...] = (
    Rule(
        "homogeneous_artifact",
        _run_homogeneous,
        summary="drop a post when one artifact is in >= threshold of its photos",
        description="Drop a train post when the same artifact is in at least `threshold` of "
        "its photos (tongue out in every photo, hands in every segment ...): the model can "
        "learn the artifact instead of the animal.",
        params=(
            Param("threshold", "float", 0.8, "share of the post's photos (0..1)"),
            Param("min_photos", "int", 2, "fewest photos a post needs"),
            Param("artifacts", "multi", None, "artifacts it looks at", ARTIFACT_TAGS),
            SPLITS_PARAM,
            UNKNOWN,
            *_source_params(SOURCES, truth_default="tags+manifest"),
        ),
        reads=("tags", "detections"),  # as the source says; its runner names what is missing
        on_by_default=True,
    ),
    Rule(
        "duplicates",
        _run_duplicates,
        summary="copies inside a post, reposts across posts, train-test leakage",
        description="Exact and near duplicates inside a post (keep one), reposts of a post "
        "under another id (keep the post with most photos), train photos leaking into "
        "query/gallery.",
        params=(
            SPLITS_PARAM,
            Param("leakage", "choice", "post", "what a leak removes", ("post", "image")),
            Param("kinds", "multi", ("exact", "near"), "duplicate kinds", ("exact", "near")),
            UNKNOWN,
        ),
        reads=("duplicates",),
        needs=("duplicates",),
    ),
    Rule(
        "one_animal_per_post",
        _run_one_animal,
        summary=f"drop posts flagged {MULTIPLE_ANIMALS} (and flagged photos)",
        description="Drop posts annotators flagged as showing several animals.",
        params=(
            Param("flag", "choice", MULTIPLE_ANIMALS, "the flag it reads", FLAGS),
            SPLITS_PARAM,
            UNKNOWN,
            Param("images", "bool", True, "flagged photos too, not only posts"),
        ),
        reads=("post_flags", "tags"),
        needs=("post_flags",),
    ),
    Rule(
        "exclude_by_tags",
        _run_exclude,
        summary=f"drop photos by bucket, artifact tag or {EXCLUDE} flag",
        description="Drop photos by annotators' decisions: buckets, artifact tags, the "
        "exclude flag.",
        params=(
            Param("buckets", "multi", (), "buckets it removes", BUCKETS),
            Param("artifacts", "multi", (), "artifact tags it removes", ARTIFACT_TAGS),
            Param("flags", "multi", (EXCLUDE,), "flags it removes", FLAGS),
            Param("annotators", "multi", None, "whose tags count (people)", ANNOTATORS),
            SPLITS_PARAM,
            UNKNOWN,
            Param("posts", "bool", True, "flagged posts too"),
            *_source_params(STORE_SOURCES),
        ),
        reads=("tags", "detections", "post_flags"),
        needs=("tags",),
    ),
    Rule(
        "quality_flags",
        _run_quality,
        summary="too dark, glare-blown, blurry, tiny (computed from pixels)",
        description="Drop photos that are too dark, glare-blown, blurry or tiny (from pixels).",
        params=(
            Param("dark", "float", 60.0, "darkest mean brightness kept (0..255)"),
            Param("glare", "float", 0.15, "largest blown-out share kept (0..1)"),
            Param("blur", "float", 30.0, "lowest sharpness kept (Laplacian variance)"),
            Param("min_side", "int", 64, "shortest side kept (pixels)"),
            Param("min_foreground", "float", 0.03, "smallest non-black share kept (0..1)"),
            SPLITS_PARAM,
            UNKNOWN,
        ),
        reads=("quality", "dataset"),
    ),
    Rule(
        "shortcut",
        _run_shortcut,
        summary="drop posts whose shortcut score is >= threshold",
        description="Drop posts the model matches through an artifact: the share of photos "
        "with one detected artifact, weighted by how much the model relies on it "
        "(`workbench shortcuts`).",
        params=(
            Param("threshold", "float", 0.75, "lowest score dropped (0..1)"),
            Param("confirmed_only", "bool", False, "only posts whose detections were confirmed"),
            SPLITS_PARAM,
            UNKNOWN,
        ),
        reads=("shortcuts",),
        needs=("shortcuts",),
    ),
)
RULES: dict[str, Rule] = {r.name: r for r in CATALOG}


def rule(name: str) -> Rule:
    """The rule called ``name``; ValueError naming the available rules otherwise."""
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; available: {', '.join(RULES)}")
    return RULES[name]


def _shown(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "+".join(value) if value else "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def help_text() -> str:
    """The rules and their parameters [defaults] for a command's help (click's ``\\b`` keeps
    the lines as they are)."""
    lines = ["\b", "Rules and parameters [defaults]:"]
    for r in CATALOG:
        lines.append(f"  {r.name:22s}{r.summary}")
        shown = []
        for p in r.params:
            if p.name == "unknown":
                continue
            text = f"{p.name} [{_shown(p.default)}]"
            if p.choice_labels:
                text += " = " + " | ".join(f"{c} ({label})" for c, label in p.choice_labels)
            elif p.kind == "choice" and isinstance(p.choices, tuple):
                text += " = " + " | ".join(str(c) for c in p.choices)
            shown.append(text)
        needs = {"tags": "--store", "post_flags": "--store", "duplicates": "--duplicates",
                 "shortcuts": "--shortcuts"}  # fmt: skip
        wants = sorted({needs[n] for n in r.needs if n in needs})
        if wants:
            shown[-1] += f"; needs {' and '.join(wants)}"
        lines.extend(f"  {'':22s}{part}" for part in _wrap(shown, 60))
    lines.append(
        "Every rule also takes unknown [raise] | ignore, for tags on images not in --data."
    )
    return "\n".join(lines)


def _wrap(items: list[str], width: int) -> list[str]:
    """``items`` joined by ", " into lines of at most ``width`` characters, never breaking
    inside an item."""
    lines = [""]
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if lines[-1] and len(lines[-1]) + 1 + len(piece) > width:
            lines.append("")
        lines[-1] = f"{lines[-1]} {piece}" if lines[-1] else piece
    return lines
