"""Embedding targets: values, gradients, batching, binding, keys."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explain.heatmaps.targets import (
    PairSimilarity,
    SelfSimilarity,
    as_target,
    pair_targets,
    similarity,
)


def test_self_similarity_is_one_and_has_a_useful_gradient():
    e = torch.tensor([3.0, 4.0], requires_grad=True)
    value = SelfSimilarity()(e)
    assert value.dim() == 0
    assert value.item() == pytest.approx(1.0)
    value.backward()
    # the plain cosine gradient vanishes here; ours is r / (|e| |r|) = (3, 4) / 25
    assert torch.allclose(e.grad, torch.tensor([0.12, 0.16]))


def test_plain_cosine_gradient_would_vanish():
    # the reason SelfSimilarity detaches the norm: documents the failure it avoids
    e = torch.tensor([3.0, 4.0], requires_grad=True)
    F.cosine_similarity(e, e.detach(), dim=0).backward()
    assert e.grad.abs().max() < 1e-6


def test_bound_self_similarity_is_cosine_to_the_clean_embedding():
    clean = torch.tensor([1.0, 0.0, 0.0])
    target = SelfSimilarity().bind(clean)
    batch = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0]])
    out = target(batch)
    assert out.shape == (3,)
    assert torch.allclose(out, torch.tensor([1.0, 0.0, 2**-0.5]))


def test_pair_similarity_value_gradient_and_batch():
    ref = torch.tensor([0.0, 1.0])
    target = PairSimilarity(ref)
    e = torch.tensor([1.0, 1.0], requires_grad=True)
    value = target(e)
    assert value.item() == pytest.approx(2**-0.5)
    value.backward()
    # d cos / d e = (r_hat - cos * e_hat) / |e| = ((0, 1) - (0.5, 0.5)) / sqrt(2)
    assert torch.allclose(e.grad, torch.tensor([-0.5, 0.5]) / 2**0.5)
    assert torch.allclose(target(torch.tensor([[0.0, 3.0], [2.0, 0.0]])), torch.tensor([1.0, 0.0]))
    assert target.bind(torch.ones(2)) is target


def test_pair_targets_point_both_ways():
    q, g = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    explain_q, explain_g = pair_targets(q, g, "q.jpg", "g.jpg")
    assert torch.equal(explain_q.reference, g) and torch.equal(explain_g.reference, q)
    assert explain_q.key() == "pair:g.jpg" and explain_g.key() == "pair:q.jpg"


def test_keys_are_stable_and_distinguish_references():
    a = PairSimilarity(torch.tensor([1.0, 2.0]))
    b = PairSimilarity(torch.tensor([1.0, 2.0]))
    c = PairSimilarity(torch.tensor([1.0, 2.5]))
    assert a.key() == b.key() != c.key()
    assert SelfSimilarity().key() == "self"
    assert SelfSimilarity().bind(torch.ones(2)).key().startswith("self:")


def test_bad_inputs_raise_with_a_hint():
    with pytest.raises(ValueError, match="target is required"):
        as_target(None)
    with pytest.raises(ValueError, match="all zeros"):
        SelfSimilarity(torch.zeros(3))(torch.ones(3))
    with pytest.raises(ValueError, match="does not match"):
        PairSimilarity(torch.ones(3))(torch.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        PairSimilarity(torch.tensor([float("nan"), 1.0]))
    with pytest.raises(ValueError, match="not an embedding target"):
        as_target(lambda e: e.sum())
    assert isinstance(as_target("self"), SelfSimilarity)


def test_similarity_helper():
    assert similarity([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.0)
    assert similarity(torch.tensor([2.0, 2.0]), [1.0, 1.0]) == pytest.approx(1.0)
