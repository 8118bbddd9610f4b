"""Which posts exist, in which split, with which planted artifacts and decoys.

:func:`plan` decides everything from the seed alone, before any pixel is drawn. Random draws
come from streams keyed by ``(seed, post_id, stream)``, so a post does not depend on the
order in which posts are planned or photos rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.synth.animals import Identity, lookalike, random_identity
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
    polluted = list(g.choice(len(train), n_polluted, replace=False)) if n_polluted else []
    kinds = {train[i]: ARTIFACTS[k % len(ARTIFACTS)] for k, i in enumerate(polluted)}
    for post in train:
        photos += _train_post(config, post, idents[post], kinds.get(post, ""))
    queries: dict[str, list[PhotoPlan]] = {}
    for post in test:
        post_photos = _test_post(config, post, idents[post])
        queries[post] = [p for p in post_photos if p.split == "query"]
        photos += post_photos
    n_decoys = round(config.decoy_fraction * len(distractors))
    decoys = {str(x) for x in g.choice(distractors, n_decoys, replace=False)} if n_decoys else set()
    used: set[str] = set()
    for post in sorted(set(lonely) | set(distractors)):
        split = "query" if post in lonely else "gallery"
        if queries and (post in decoys or split == "query"):
            photos += _decoy_post(config, post, split, queries, used, g, idents)
        else:
            ident = random_identity(
                _rng(config, int(post), 1), _species(config, _rng(config, int(post), 5))
            )
            photos += _plain_post(config, post, split, ident)
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(photos, key=lambda p: (order[p.split], p.post_id, p.photo))


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
    if rng.random() < config.mismatch_fraction:  # the true pair differs in an artifact
        look = _random_artifact(rng)
        on_query = rng.random() < 0.5
        for i, a in enumerate(arts):
            if ((i + 1) in query) == on_query:
                a.append(jitter(look, rng))
    else:
        for a in arts:
            if rng.random() < config.test_artifact_rate:
                a.append(_random_artifact(rng))
    return [
        PhotoPlan("query" if i + 1 in query else "gallery", post, i + 1, ident, tuple(a))
        for i, a in enumerate(arts)
    ]


def _plain_post(config: SynthConfig, post: str, split: str, ident: Identity) -> list[PhotoPlan]:
    n = _count(config, post) if split == "gallery" else 1
    rng = _rng(config, int(post), 3)
    out = []
    for i in range(n):
        a = (_random_artifact(rng),) if rng.random() < config.test_artifact_rate else ()
        out.append(PhotoPlan(split, post, i + 1, ident, a))
    return out


def _decoy_post(
    config: SynthConfig,
    post: str,
    split: str,
    queries: dict[str, list[PhotoPlan]],
    used: set[str],
    g: np.random.Generator,
    idents: dict[str, Identity],
) -> list[PhotoPlan]:
    """A different animal built to be confused with a test query: similar coat and/or artifact."""
    mode = ("colour", "artifact", "both")[int(g.integers(3))]
    with_artifact = sorted(p for p, qs in queries.items() if any(q.artifacts for q in qs))
    if mode != "colour" and not with_artifact:
        mode = "colour"
    pool = with_artifact if mode != "colour" else sorted(queries)
    fresh = [p for p in pool if p not in used] or pool
    target = fresh[int(g.integers(len(fresh)))]
    used.add(target)
    rng = _rng(config, int(post), 1)
    if mode == "artifact":
        ident = random_identity(rng, idents[target].species)
    else:
        ident = lookalike(idents[target], rng)
    shared = next(a for q in queries[target] for a in q.artifacts) if mode != "colour" else None
    n = _count(config, post) if split == "gallery" else (2 if rng.random() < 0.2 else 1)
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
