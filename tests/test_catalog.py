"""The heatmap-method catalog: discovery, parameters, canonical keys, the command line's lists."""

from __future__ import annotations

import pkgutil

import pytest
import torch
from click.testing import CliRunner

import explain.heatmaps.methods as methods_package
from explain.heatmaps import catalog
from explain.heatmaps.catalog import (
    canonical_params,
    compute,
    method_params,
    names,
    reference_method,
    spec,
    specs,
)
from explain.heatmaps.layers import DEFAULT_LAYERS
from explain.heatmaps.targets import SelfSimilarity
from tests.models import conv_net


def test_every_method_module_is_discovered():
    modules = {
        f"explain.heatmaps.methods.{m.name}"
        for m in pkgutil.iter_modules(methods_package.__path__)
        if not m.name.startswith("_")
    }
    found = {s.module for s in specs()}
    assert modules <= found, modules - found
    assert {"gradcam", "gradcam++", "hirescam", "eigencam", "activation", "occlusion",
            "randomcam"} <= set(names())  # fmt: skip
    assert names() == sorted(names())


def test_flags_pick_the_default_lists():
    assert reference_method() == "randomcam"
    assert names(reference=True) == ["randomcam"]
    assert "occlusion" not in names(slow=False) and "randomcam" in names(slow=False)
    assert "randomcam" not in names(reference=False) and "occlusion" in names(reference=False)
    occ = spec("occlusion")
    assert occ.slow and set(occ.execution_only) == {"batch_size", "skip_unchanged", "engine",
                                                   "incremental", "progress"}  # fmt: skip
    assert occ.defaults == {"window": 16, "stride": 8, "baseline": "blur", "colour": None,
                            "blur_sigma": None}  # fmt: skip
    assert spec("gradcam").defaults == {"layer": None}
    assert spec("randomcam").defaults == {"layer": None, "seed": 0}
    assert spec("gradcam").summary.startswith("Grad-CAM of ``target`` at ``layer``")
    with pytest.raises(ValueError, match="unknown heatmap method 'nope'; choose one of"):
        spec("nope")


def test_one_parameter_builder_for_every_caller():
    settings = {"layer": "conv4", "window": 24, "stride": 12, "baseline": "mean",
                "colour": [0.5, 0.4, 0.3]}  # fmt: skip
    assert method_params("gradcam", **settings) == {"layer": "conv4"}
    assert method_params("randomcam", **settings) == {"layer": "conv4"}
    assert method_params("occlusion", **settings) == {"window": 24, "stride": 12,
                                                      "baseline": "mean",
                                                      "colour": [0.5, 0.4, 0.3]}  # fmt: skip
    # None means "the method's default", so the faithfulness check and the batch get the same
    # occlusion baseline as the command line and the app (blur)
    assert method_params("occlusion", layer=None, window=None, baseline=None) == {}
    assert canonical_params("occlusion", method_params("occlusion", layer=None))["baseline"] == (
        "blur"
    )


def test_canonical_parameters_equal_what_each_method_reports(monkeypatch):
    model, x = conv_net(0), torch.rand(1, 3, 16, 8)
    monkeypatch.setitem(DEFAULT_LAYERS, "Sequential", "2")
    for name in names():
        given = {"window": 4, "stride": 2} if name == "occlusion" else {}
        hm = compute(name, model, x, SelfSimilarity(), **given)
        assert canonical_params(name, given, model=model) == hm.params, name
    hm = compute("occlusion", model, x, SelfSimilarity(), window=(4, 2), stride=2,
                 baseline="mean", colour=(0.1, 0.2, 0.3), engine="eager")  # fmt: skip
    assert hm.params == canonical_params(
        "occlusion", {"window": (4, 2), "stride": [2, 2], "baseline": "mean",
                      "colour": (0.1, 0.2, 0.3), "engine": "eager"}
    ) == {"window": [4, 2], "stride": [2, 2], "baseline": "mean",
          "colour": [0.1, 0.2, 0.3]}  # fmt: skip


def test_an_approximate_engine_gets_its_own_canonical_parameters():
    from explain.models import engine_openvino

    exact = canonical_params("occlusion", {"window": 4, "engine": "onnx"})
    approx = canonical_params("occlusion", {"window": 4, "engine": "bf16"})
    assert "approximate" not in exact and approx == {**exact, "approximate": "bf16"}
    if not engine_openvino.bf16_supported():
        pytest.skip("no bf16 units on this CPU: the bf16 engine refuses to run")
    model, x = conv_net(0), torch.rand(1, 3, 16, 8)
    hm = compute("occlusion", model, x, SelfSimilarity(), window=4, stride=2, engine="bf16")
    assert hm.params == canonical_params("occlusion", {"window": 4, "stride": 2, "engine": "bf16"})


def test_canonical_layer_and_bad_parameters(monkeypatch):
    model = conv_net(0)
    monkeypatch.setitem(DEFAULT_LAYERS, "Sequential", "2")
    assert canonical_params("gradcam", {}, model=model) == {"layer": "2"}
    assert canonical_params("gradcam", {"layer": None}, model=model) == {"layer": "2"}
    assert canonical_params("gradcam", {"layer": "0"}, model=model) == {"layer": "0"}
    assert canonical_params("eigencam", {}, default_layer="conv5") == {"layer": "conv5"}
    with pytest.raises(ValueError, match="gradcam' takes layer; not stride, window"):
        canonical_params("gradcam", {"window": 3, "stride": 1}, model=model)
    with pytest.raises(ValueError, match="baseline must be one of black, mean, blur"):
        canonical_params("occlusion", {"baseline": "grey"})
    monkeypatch.delitem(DEFAULT_LAYERS, "Sequential")
    with pytest.raises(ValueError, match="no default target layer for Sequential"):
        canonical_params("gradcam", {}, model=model)


def test_a_registered_method_joins_the_lists_and_leaves():
    def brightness(model, x, target, gain: float = 1.0, chunk: int = 4):
        """Mean brightness as a map."""
        raise NotImplementedError

    catalog.register("brightness", execution_only=("chunk",))(brightness)
    try:
        assert "brightness" in names() and "brightness" in names(slow=False)
        assert canonical_params("brightness", {"chunk": 9}) == {"gain": 1.0}
        assert spec("brightness").summary == "Mean brightness as a map."
    finally:
        catalog.unregister("brightness")
    assert "brightness" not in names()
    with pytest.raises(ValueError, match="parameter 'gain' needs a default"):
        catalog.register("broken")(lambda model, x, target, gain: None)
    with pytest.raises(ValueError, match="has no parameter"):
        catalog.register("broken", execution_only=("speed",))(lambda model, x, target: None)
    assert "broken" not in names()


def test_the_command_line_lists_the_catalog():
    from workbench.commands.explain import command

    runner = CliRunner()
    defaults = {"maps": "gradcam", "report": ", ".join(names(slow=False)),
                "faithfulness": ", ".join(names(slow=False, reference=False))}  # fmt: skip
    for sub, default in defaults.items():
        out = runner.invoke(command, [sub, "--help"], terminal_width=400).output
        assert f"Methods: {', '.join(names())}." in out, sub
        assert f"[default: {default}]" in out, sub
    bad = runner.invoke(command, ["maps", "--checkpoints", "x", "--image", __file__,
                                  "--method", "gradcam,nope"])  # fmt: skip
    assert bad.exit_code != 0
    assert f"unknown method(s) nope; choose from {', '.join(names())}" in bad.output
