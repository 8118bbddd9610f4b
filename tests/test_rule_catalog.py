"""The rule catalog: every record agrees with its function, and the CLI help and apply_rules
read it."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
from click.testing import CliRunner

from curation.rules import CATALOG, apply_rules, parameters, parse_rules
from curation.rules.catalog import RULES, Param, Rule, help_text
from curation.rules.decisions import exclude_by_tags, one_animal_per_post
from curation.rules.duplicates import duplicates
from curation.rules.homogeneous import homogeneous_artifact
from curation.rules.quality import quality_flags

FUNCTIONS = {
    "homogeneous_artifact": homogeneous_artifact,
    "duplicates": duplicates,
    "one_animal_per_post": one_animal_per_post,
    "exclude_by_tags": exclude_by_tags,
    "quality_flags": quality_flags,
}
# parameters the catalog's runner handles itself (not passed on to the function)
SOURCE = {"source", "min_score", "confirmed_only"}
RUNNER_PARAMS = {"homogeneous_artifact": SOURCE, "one_animal_per_post": {"images"},
                 "exclude_by_tags": {"posts", *SOURCE}}  # fmt: skip


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_declared_defaults_are_the_functions_defaults(name):
    sig = inspect.signature(FUNCTIONS[name]).parameters
    declared = RULES[name].defaults()
    for key, default in declared.items():
        if key in RUNNER_PARAMS.get(name, set()):
            assert key not in sig
            continue
        assert sig[key].default == default, (name, key)
    tunable = {k for k, p in sig.items() if p.default is not inspect.Parameter.empty}
    inputs = {"tags", "image_flags", "post_flags"}
    assert tunable - inputs == set(declared) - RUNNER_PARAMS.get(name, set()), name


def test_every_choice_default_is_one_of_its_choices():
    for rule in CATALOG:
        for p in rule.params:
            if p.kind == "choice":
                assert p.default in p.choices, (rule.name, p.name)
                assert p.truth_default is None or p.truth_default in p.choices
            if p.kind == "multi" and isinstance(p.choices, tuple) and p.default:
                assert set(p.default) <= set(p.choices), (rule.name, p.name)


def test_a_parameter_of_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind 'colour'"):
        Param("x", "colour", 1, "a colour")


def test_the_help_lists_every_rule_and_parameter_from_the_catalog():
    text = help_text()
    for rule in CATALOG:
        assert f"  {rule.name} " in text and rule.summary in text
        for p in rule.params:
            if p.name != "unknown":
                assert f"{p.name} [" in text, (rule.name, p.name)
    from workbench.cli import main

    out = CliRunner().invoke(main, ["export", "--help"]).output
    assert "Rules and parameters [defaults]:" in out
    assert "min_foreground [0.03]" in out and "needs --duplicates" in out


def test_parameters_and_parsing_read_the_declared_kinds():
    assert parameters("quality_flags")["blur"] == 30.0
    spec = parse_rules("exclude_by_tags:buckets=spurious+missed:posts=no:splits=train")[0]
    assert spec.params == {"buckets": ("spurious", "missed"), "posts": False,
                           "splits": ("train",)}  # fmt: skip
    with pytest.raises(ValueError, match=r"min_photos='two' is not a valid int"):
        parse_rules("homogeneous_artifact:min_photos=two")


class _Data:
    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table


def test_a_new_record_is_run_by_apply_rules_with_its_declared_needs(monkeypatch):
    table = pd.DataFrame({"image": ["train/1_1.jpg", "train/2_1.jpg"], "post_id": ["1", "2"],
                          "split": ["train", "train"]})  # fmt: skip
    seen = {}

    def run(inputs, params):
        seen.update(params)
        rows = inputs.table[inputs.table["post_id"] == params["post"]]
        return pd.DataFrame({"image": rows["image"], "post_id": rows["post_id"],
                             "split": rows["split"], "rule": "drop_post", "cause": "asked",
                             "reason": "named on the command line"})  # fmt: skip

    record = Rule("drop_post", run, summary="drop one post", description="Drop one post.",
                  params=(Param("post", "choice", "1", "which post", ("1", "2")),),
                  needs=("tags",))  # fmt: skip
    monkeypatch.setitem(RULES, "drop_post", record)
    with pytest.raises(ValueError, match="rule drop_post needs the store's tags"):
        apply_rules(_Data(table), "drop_post:post=2")
    tags = pd.DataFrame({"image": [], "artifacts": []})
    kept, removals = apply_rules(_Data(table), "drop_post:post=2", tags=tags)
    assert seen == {"post": "2"}
    assert removals["image"].tolist() == ["train/2_1.jpg"]
    assert kept["image"].tolist() == ["train/1_1.jpg"]
