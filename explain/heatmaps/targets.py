"""Explicit targets for embedding models: tiny callables ``embedding -> scalar``.

A re-identification model has no class to explain; what a heatmap explains is a similarity.

- :class:`SelfSimilarity` -- cosine similarity of the image's embedding with its own (detached)
  embedding: "what makes this image look like itself to the model".
- :class:`PairSimilarity` -- cosine similarity with a reference embedding, e.g. a query against
  its top-1 gallery match. Explain both directions (query with the match as reference, and the
  match with the query as reference) to see what each image contributed: :func:`pair_targets`.

A target accepts one embedding ``(D,)`` (pytorch-grad-cam calls it per sample) and returns a
0-d tensor, or a batch ``(N, D)`` (captum's forward function) and returns ``(N,)``. Values are
cosine similarities in [-1, 1].

Perturbation methods (occlusion, deletion curves) evaluate the target on perturbed images, so the
reference must be the *clean* image's embedding: they call :meth:`SelfSimilarity.bind` with it
first. ``PairSimilarity.bind`` returns the target unchanged.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-12


@runtime_checkable
class EmbeddingTarget(Protocol):
    """What every heatmap method accepts as ``target``."""

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor: ...

    def bind(self, clean_embedding: torch.Tensor) -> EmbeddingTarget: ...

    def key(self) -> str: ...


def _check_embedding(embedding: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(embedding, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, not {type(embedding).__name__}")
    if embedding.dim() == 2 and embedding.shape[0] == 1:
        embedding = embedding[0]
    if embedding.dim() != 1 or embedding.numel() == 0:
        raise ValueError(
            f"{name} must be one embedding of shape (D,) or (1, D), got {tuple(embedding.shape)}"
        )
    if not torch.isfinite(embedding).all():
        raise ValueError(f"{name} holds NaN or infinite values; check the model's output")
    return embedding


def _unit(reference: torch.Tensor) -> torch.Tensor:
    ref = reference.detach().float()
    norm = ref.norm()
    if norm <= _EPS:
        raise ValueError("the reference embedding is all zeros; a cosine similarity is undefined")
    return ref / norm


def _embedding_key(embedding: torch.Tensor) -> str:
    data = embedding.detach().float().cpu().contiguous().numpy().astype("<f4").tobytes()
    return hashlib.sha1(data).hexdigest()


class SelfSimilarity:
    """``cos(e, stopgrad(r))`` with ``r`` the image's own embedding.

    Unbound (``reference=None``), ``r`` is the embedding being scored, detached: the value is 1.
    The true gradient of ``cos(e, e.detach())`` vanishes at the image itself (the similarity is at
    its maximum), so the norm of ``e`` is treated as a constant in the backward pass: the forward
    value is exactly the cosine similarity, the gradient is ``r / (|e| |r|)``, i.e. the direction
    of the embedding. Bound to a clean embedding (:meth:`bind`), the value on a perturbed image is
    the plain cosine similarity to the clean image's embedding.
    """

    def __init__(self, reference: torch.Tensor | None = None):
        self.reference = None if reference is None else _check_embedding(reference, "reference")

    def bind(self, clean_embedding: torch.Tensor) -> SelfSimilarity:
        """The same target with the clean image's embedding as fixed reference."""
        return SelfSimilarity(clean_embedding.detach())

    def key(self) -> str:
        """Cache key part: ``self`` (unbound) or ``self:<sha1 of the reference>``."""
        return "self" if self.reference is None else f"self:{_embedding_key(self.reference)}"

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        single = embedding.dim() == 1
        e = embedding.unsqueeze(0) if single else embedding
        if e.dim() != 2:
            raise ValueError(f"embedding must be (D,) or (N, D), got {tuple(embedding.shape)}")
        if self.reference is None:
            ref = e.detach() / e.detach().norm(dim=1, keepdim=True).clamp_min(_EPS)
        else:
            ref = _unit(self.reference).to(e.device).unsqueeze(0)
        norm = e.norm(dim=1).detach().clamp_min(_EPS)
        value = (e * ref).sum(dim=1) / norm
        return value[0] if single else value

    def __repr__(self) -> str:
        return "SelfSimilarity()" if self.reference is None else "SelfSimilarity(bound)"


class PairSimilarity:
    """``cos(e, r)`` with a fixed reference embedding ``r`` (full cosine gradient)."""

    def __init__(self, reference_embedding: torch.Tensor, name: str | None = None):
        self.reference = _check_embedding(reference_embedding, "reference_embedding").detach()
        self.name = name

    def bind(self, clean_embedding: torch.Tensor) -> PairSimilarity:
        """Pair targets already have a fixed reference: returned unchanged."""
        return self

    def key(self) -> str:
        """Cache key part: ``pair:<name>`` when named (e.g. the reference image's sha1),
        else ``pair:<sha1 of the reference embedding>``."""
        return f"pair:{self.name}" if self.name else f"pair:{_embedding_key(self.reference)}"

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        single = embedding.dim() == 1
        e = embedding.unsqueeze(0) if single else embedding
        if e.dim() != 2 or e.shape[1] != self.reference.shape[0]:
            raise ValueError(
                f"embedding of shape {tuple(embedding.shape)} does not match the reference "
                f"embedding ({self.reference.shape[0]} values); use embeddings of the same model"
            )
        ref = self.reference.to(e.device, e.dtype).unsqueeze(0)
        value = F.cosine_similarity(e, ref, dim=1, eps=_EPS)
        return value[0] if single else value

    def __repr__(self) -> str:
        return f"PairSimilarity({self.name or 'embedding'})"


def pair_targets(
    query_embedding: torch.Tensor,
    match_embedding: torch.Tensor,
    query_name: str | None = None,
    match_name: str | None = None,
) -> tuple[PairSimilarity, PairSimilarity]:
    """Targets for both directions of a pair: ``(explain the query, explain the match)``.

    The first scores an embedding against the match (use it on the query image), the second
    against the query (use it on the match image).
    """
    return (
        PairSimilarity(match_embedding, name=match_name),
        PairSimilarity(query_embedding, name=query_name),
    )


def as_target(target: object) -> EmbeddingTarget:
    """Check that ``target`` is an explicit embedding target (never None: no argmax fallback).

    The string ``"self"`` is accepted as shorthand for :class:`SelfSimilarity`.
    """
    if target is None:
        raise ValueError(
            "a target is required: pass SelfSimilarity() or PairSimilarity(reference_embedding); "
            "an embedding model has no class to fall back to"
        )
    if isinstance(target, str):
        if target == "self":
            return SelfSimilarity()
        raise ValueError(f"unknown target {target!r}; use 'self' or a PairSimilarity")
    if isinstance(target, EmbeddingTarget):
        return target
    raise ValueError(
        f"target {target!r} is not an embedding target: it needs __call__(embedding), "
        "bind(clean_embedding) and key(); use SelfSimilarity or PairSimilarity"
    )


def similarity(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Cosine similarity of two embeddings ``(D,)`` as a float in [-1, 1]."""
    ta = torch.as_tensor(a, dtype=torch.float32).flatten()
    tb = torch.as_tensor(b, dtype=torch.float32).flatten()
    return float(F.cosine_similarity(ta, tb, dim=0, eps=_EPS))
