"""workbench.settings: defaults < workspace workbench.toml < environment < flags, and the CLI,
the access policy and the app reading them."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from curation.store import TagStore
from workbench import access, settings
from workbench.commands.options import cache_option
from workbench.settings import PROJECT, SettingsError


def test_defaults_without_any_setting(tmp_path):
    got = settings.load({"WORKBENCH_WORKSPACE": str(tmp_path)})
    assert got.workspace == tmp_path
    assert got.data == str(PROJECT / "sample_data" / "pets")
    assert got.store == str(tmp_path / "tags.sqlite")
    assert got.cache == PROJECT / ".workbench" / "cache"
    assert got.annotator == ""
    assert got.source["workspace"] == "WORKBENCH_WORKSPACE" and got.source["cache"] == "default"
    assert got.configured("store") is None and got.configured("workspace") == tmp_path
    assert settings.load({}).workspace == PROJECT / "workspace"


def test_the_file_then_the_environment_then_flags(tmp_path):
    (tmp_path / "workbench.toml").write_text(
        'data = "datasets/pets"\ncache = "/var/cache/wb"\nannotator = "tom"\n'
        'store = "postgresql+psycopg://team@db/tags"\n'
    )
    env = {"WORKBENCH_WORKSPACE": str(tmp_path)}
    got = settings.load(env)
    assert got.data == str(tmp_path / "datasets" / "pets")  # relative to the workspace
    assert got.cache == Path("/var/cache/wb") and got.annotator == "tom"
    assert got.store == "postgresql+psycopg://team@db/tags"  # a URL is not a path
    assert got.source["data"] == str(tmp_path / "workbench.toml")
    env |= {"WORKBENCH_CACHE": "/tmp/env-cache", "WORKBENCH_ANNOTATOR": "ann"}
    got = settings.load(env)
    assert got.cache == Path("/tmp/env-cache") and got.annotator == "ann"
    assert got.source["annotator"] == "WORKBENCH_ANNOTATOR"
    got = settings.load(env, cache="/tmp/flag-cache", annotator=None)
    assert got.cache == Path("/tmp/flag-cache") and got.source["cache"] == "flag"
    assert got.annotator == "ann"  # a flag given as None is no flag


@pytest.mark.parametrize(
    "text, message",
    [
        ('colour = "red"\n', r"unknown setting\(s\) colour; it may set data, checkpoints"),
        ('workspace = "elsewhere"\n', "the workspace itself comes from WORKBENCH_WORKSPACE"),
        ("data = 3\n", r'data must be a string, e.g. data = "...", not 3'),
        ("data = \n", "cannot be read as TOML"),
    ],
)
def test_a_bad_file_names_itself_and_the_fix(tmp_path, text, message):
    (tmp_path / "workbench.toml").write_text(text)
    with pytest.raises(SettingsError, match=message) as err:
        settings.load({"WORKBENCH_WORKSPACE": str(tmp_path)})
    assert str(tmp_path / "workbench.toml") in str(err.value)


def _show_cache():
    @click.command()
    @cache_option("cache folder")
    def show(cache_dir):
        click.echo(str(cache_dir))

    return show


def test_the_cli_cache_default_follows_the_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    run = CliRunner().invoke
    assert run(_show_cache(), []).output.strip() == str(PROJECT / ".workbench" / "cache")
    (tmp_path / "workbench.toml").write_text('cache = "cache"\n')
    assert run(_show_cache(), []).output.strip() == str(tmp_path / "cache")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "env"))
    assert run(_show_cache(), []).output.strip() == str(tmp_path / "env")
    assert run(_show_cache(), ["--cache", "x"]).output.strip() == "x"


def test_tags_command_takes_store_and_annotator_from_the_workspace_file(tmp_path, monkeypatch):
    from workbench.cli import main

    for var in ("WORKBENCH_STORE", "WORKBENCH_ANNOTATOR", "WORKBENCH_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    (tmp_path / "workbench.toml").write_text('store = "team.sqlite"\nannotator = "toml-tom"\n')
    out = CliRunner().invoke(main, ["tags", "bucket", "train/1_1.jpg", "worked"])
    assert out.exit_code == 0, out.output
    state = TagStore(tmp_path / "team.sqlite").current()
    assert state["annotator"].tolist() == ["toml-tom"] and state["bucket"].tolist() == ["worked"]


def test_the_access_policy_allows_what_the_workspace_file_names(tmp_path):
    data = tmp_path / "elsewhere" / "pets"
    data.mkdir(parents=True)
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {"WORKBENCH_WORKSPACE": str(ws), "WORKBENCH_ALLOWED_ROOTS": str(ws)}
    assert not access.Policy.from_env(env).allows(data)
    (ws / "workbench.toml").write_text(f'data = "{data}"\n')
    assert access.Policy.from_env(env).allows(data)
    assert access.cache_dir(env) == PROJECT / ".workbench" / "cache"
    assert access.workspace_dir(env) == ws
