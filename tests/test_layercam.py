"""LayerCAM, added through the catalog: one method module, listed everywhere without other edits."""

from __future__ import annotations

import numpy as np
import torch
from click.testing import CliRunner
from pytorch_grad_cam import LayerCAM

from explain.heatmaps.catalog import canonical_params, compute, method_params, names, spec
from explain.heatmaps.targets import PairSimilarity, SelfSimilarity
from tests.models import Planted, planted_input, planted_region, strided_net


def test_layercam_is_in_the_catalog_with_its_parameters():
    assert "layercam" in names() and "layercam" in names(slow=False, reference=False)
    s = spec("layercam")
    assert s.module == "explain.heatmaps.methods.layercam"
    assert s.defaults == {"layer": None} and s.execution_only == ()
    assert method_params("layercam", layer="conv3.1", window=16) == {"layer": "conv3.1"}
    assert canonical_params("layercam", {}, default_layer="conv5") == {"layer": "conv5"}


def test_layercam_equals_the_library_call():
    model, x = strided_net(0), torch.randn(1, 3, 16, 12)
    ref = PairSimilarity(torch.randn(5))
    with LayerCAM(model=model, target_layers=[model[3]]) as cam:
        want = cam(input_tensor=x.clone(), targets=[ref])[0]
    got = compute("layercam", model, x, ref, layer="3")
    assert got.map.shape == (16, 12) and got.raw.shape == (8, 6)
    np.testing.assert_allclose(got.map, want, atol=1e-6)
    assert got.params == {"layer": "3"} and got.method == "layercam"


def test_layercam_raw_is_the_positive_gradient_times_the_activation():
    model, x = strided_net(1), torch.randn(1, 3, 16, 12)
    ref = PairSimilarity(torch.randn(5))
    acts = []
    handle = model[3].register_forward_hook(lambda _m, _i, out: acts.append(out))
    try:
        value = ref(model(x)[0])
        (grad,) = torch.autograd.grad(value, acts[0])
    finally:
        handle.remove()
    want = (grad.clamp_min(0) * acts[0]).sum(1)[0].detach().numpy()
    got = compute("layercam", model, x, ref, layer="3")
    np.testing.assert_allclose(got.raw, want, rtol=1e-5, atol=1e-7)
    assert got.score == float(value.detach())


def test_layercam_recovers_the_planted_region():
    hm = compute("layercam", Planted(), planted_input(), SelfSimilarity(), layer="body")
    np.testing.assert_allclose(hm.map, planted_region(), atol=1e-6)


def test_the_command_line_offers_layercam():
    from workbench.commands.explain import command

    out = CliRunner().invoke(command, ["maps", "--help"], terminal_width=400).output
    assert "layercam" in out
