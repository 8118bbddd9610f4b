"""Which posts exist, in which split, with which planted artifacts and decoys.

:func:`plan` decides everything from the seed alone, before any pixel is drawn. Random draws
come from streams keyed by ``(seed, post_id, stream)``, so a post does not depend on the
order in which posts are planned or photos rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.synth.animals import Identity, lookalike, random_identity, twin
from workbench.synth.artifacts import ARTIFACTS, ArtifactLook, jitter, random_look
from workbench.synth.config import FIRST_POST_ID, LAST_POST_ID, SynthConfig

SPLITS = ("train", "query", "gallery")


@dataclass(frozen=True)
class PhotoPlan:
    """One photo to render: who, where, and which artifacts to plant."""

    split: str
    post_id: str
    photo: int
    identity: Identity
    artifacts: tuple[ArtifactLook, ...] = ()
    homogeneous: str = ""
    decoy_of: str = ""


def _rng(config: SynthConfig, post: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, post, stream])


def _species(config: SynthConfig, rng: np.random.Generator) -> str:
    return "dog" if rng.random() < config.dog_fraction else "cat"


def _random_artifact(rng: np.random.Generator, exclude: str = "") -> ArtifactLook:
    kinds = [k for k in ARTIFACTS if k != exclude]
    return random_look(kinds[int(rng.integers(len(kinds)))], rng)


def plan(config: SynthConfig) -> list[PhotoPlan]:
    """Every photo of the dataset, sorted by split (train, query, gallery), post and photo."""
    g = np.random.default_rng([config.seed, 0])
    span = LAST_POST_ID - FIRST_POST_ID + 1
    ids = [str(FIRST_POST_ID + int(i)) for i in g.choice(span, config.n_posts, replace=False)]
    cuts = np.cumsum([config.n_train_ids, config.n_test_ids, config.n_query_without_gallery])
    train, test, lonely, distractors = (
        sorted(str(x) for x in part) for part in np.split(np.asarray(ids), cuts)
    )
    idents = {
        p: random_identity(_rng(config, int(p), 1), _species(config, _rng(config, int(p), 5)))
        for p in (*train, *test)
    }
    photos: list[PhotoPlan] = []
    n_polluted = round(config.polluted_fraction * len(train))
    polluted = [int(i) for i in g.choice(len(train), n_polluted, replace=False)]
    kinds = {train[i]: ARTIFACTS[k % len(ARTIFACTS)] for k, i in enumerate(polluted)}
    # groups of polluted posts, one per artifact kind, show twins of one clean train animal
    clean = [i for i in range(len(train)) if i not in set(polluted)]
    n_twins = round(config.polluted_twin_fraction * n_polluted)
    groups = min(-(-n_twins // len(ARTIFACTS)), len(clean))
    originals = [int(i) for i in g.choice(clean, groups, replace=False)] if groups else []
    for k, i in enumerate(polluted[: min(n_twins, groups * len(ARTIFACTS))]):
        original = idents[train[originals[k // len(ARTIFACTS)]]]
        idents[train[i]] = twin(original, _rng(config, int(train[i]), 6))
    for post in train:
        photos += _train_post(config, post, idents[post], kinds.get(post, ""))
    queries: dict[str, list[PhotoPlan]] = {}
    for post in test:
        post_photos = _test_post(config, post, idents[post])
        queries[post] = [p for p in post_photos if p.split == "query"]
        photos += post_photos
    for post in lonely:  # look-alikes of test queries with no gallery photo of their own
        target = sorted(queries)[int(g.integers(len(queries)))] if queries else ""
        mode = ("colour", "both")[int(g.integers(2))]
        photos += _other_post(config, post, "query", target, mode, queries, idents)
    targets = _decoy_targets(config, queries, len(distractors), g)
    for k, post in enumerate(distractors):
        target, mode = targets.get(k, ("", ""))
        photos += _other_post(config, post, "gallery", target, mode, queries, idents)
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(photos, key=lambda p: (order[p.split], p.post_id, p.photo))


def _decoy_targets(
    config: SynthConfig,
    queries: dict[str, list[PhotoPlan]],
    n_distractors: int,
    g: np.random.Generator,
) -> dict[int, tuple[str, str]]:
    """Which distractor (by index) imitates which test query, and how.

    Every query post with an artifact gets, while decoys last, a decoy that carries the same
    artifact ("artifact": another animal of the species; "both": a look-alike as well); the
    remaining decoys are look-alikes of other queries ("colour"), without the artifact.
    """
    n_decoys = round(config.decoy_fraction * n_distractors)
    with_artifact = [p for p in sorted(queries) if any(q.artifacts for q in queries[p])]
    without = [p for p in sorted(queries) if p not in set(with_artifact)]
    g.shuffle(with_artifact)
    g.shuffle(without)
    plan_: list[tuple[str, str]] = []
    for post in with_artifact[:n_decoys]:
        plan_.append((post, "both" if g.random() < config.lookalike_decoy_fraction else "artifact"))
    pool = without or sorted(queries)
    for k in range(n_decoys - len(plan_)):
        plan_.append((pool[k % len(pool)], "colour"))
    slots = [int(i) for i in g.permutation(n_distractors)[: len(plan_)]]
    return dict(zip(slots, plan_, strict=True))


def _count(config: SynthConfig, post: str) -> int:
    return int(_rng(config, int(post), 2).integers(config.photos_min, config.photos_max + 1))


def _train_post(config: SynthConfig, post: str, ident: Identity, kind: str) -> list[PhotoPlan]:
    n = _count(config, post)
    rng = _rng(config, int(post), 3)
    arts: list[list[ArtifactLook]] = [[] for _ in range(n)]
    if kind:
        look = random_look(kind, _rng(config, int(post), 4))
        for a in arts:
            a.append(jitter(look, rng))
    for a in arts:
        if rng.random() < config.random_artifact_rate:
            a.append(_random_artifact(rng, exclude=kind))
    if not kind and all(arts):  # never the same situation in every photo of a clean post
        arts[int(rng.integers(n))] = []
    return [
        PhotoPlan("train", post, i + 1, ident, tuple(a), homogeneous=kind)
        for i, a in enumerate(arts)
    ]


def _test_post(config: SynthConfig, post: str, ident: Identity) -> list[PhotoPlan]:
    n = _count(config, post)
    rng = _rng(config, int(post), 3)
    n_query = 2 if n >= 4 and rng.random() < 0.2 else 1
    query = set(int(q) + 1 for q in rng.choice(n, n_query, replace=False))
    arts: list[list[ArtifactLook]] = [[] for _ in range(n)]
    draw = rng.random()
    if draw < config.mismatch_fraction:  # the true pair differs in an artifact
        look = _random_artifact(rng)
        on_query = rng.random() < config.query_side_fraction
        for i, a in enumerate(arts):
            if ((i + 1) in query) == on_query:
                a.append(jitter(look, rng))
    elif draw < config.mismatch_fraction + config.shared_pair_fraction:  # the same in all photos
        look = _random_artifact(rng)
        for a in arts:
            a.append(jitter(look, rng))
    else:
        for a in arts:
            if rng.random() < config.test_artifact_rate:
                a.append(_random_artifact(rng))
    return [
        PhotoPlan("query" if i + 1 in query else "gallery", post, i + 1, ident, tuple(a))
        for i, a in enumerate(arts)
    ]


def _other_post(
    config: SynthConfig,
    post: str,
    split: str,
    target: str,
    mode: str,
    queries: dict[str, list[PhotoPlan]],
    idents: dict[str, Identity],
) -> list[PhotoPlan]:
    """A post that is no test animal: a plain distractor (``target`` empty) or a decoy built to
    be confused with the query of ``target``: a look-alike ("colour"), another animal of its
    species carrying the query's artifact ("artifact"), or a look-alike with it ("both")."""
    rng = _rng(config, int(post), 1)
    if not target:
        ident = random_identity(rng, _species(config, _rng(config, int(post), 5)))
    elif mode == "artifact":
        ident = random_identity(rng, idents[target].species)
    else:
        ident = lookalike(idents[target], rng)
    shared = None
    if target and mode != "colour":
        shared = next((a for q in queries[target] for a in q.artifacts), None)
    two = bool(target) and split == "query" and rng.random() < 0.2  # a query post: 1 or 2
    n = _count(config, post) if split == "gallery" else 1 + int(two)
    arts = _rng(config, int(post), 3)
    out = []
    for i in range(n):
        a: tuple[ArtifactLook, ...] = ()
        if shared is not None:
            a = (jitter(shared, arts),)
        elif arts.random() < config.test_artifact_rate:
            a = (_random_artifact(arts),)
        out.append(PhotoPlan(split, post, i + 1, ident, a, decoy_of=target))
    return out
