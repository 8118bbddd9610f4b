"""Paths a visitor may name (workbench.access): inside and outside the allowed roots, symlinks,
``..``, ``~``, NUL bytes, wrong kinds, and the policy the environment configures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.adversarial.app_inputs import (
    ROOTS_VAR,
    outside_message_for,
    policy_of,
)
from tests.adversarial.conftest import ROOT
from workbench import access
from workbench.access import AccessError, Policy

REFUSED_PATHS = [
    pytest.param(lambda t: "/etc", None, id="etc"),
    pytest.param(lambda t: "/etc/passwd", None, id="etc-passwd"),
    pytest.param(lambda t: str(t["outside"]), None, id="outside-folder"),
    pytest.param(lambda t: str(t["outside"] / "missing"), None, id="outside-missing"),
    pytest.param(lambda t: str(t["allowed"] / "out"), "outside", id="symlink-out"),
    pytest.param(lambda t: str(t["allowed"] / "out" / "secret.txt"), "secret", id="through-link"),
    pytest.param(lambda t: str(t["allowed"] / "filelink"), "secret", id="file-symlink-out"),
    pytest.param(lambda t: str(t["allowed"] / ".." / "outside"), "outside", id="dotdot"),
    pytest.param(
        lambda t: str(t["allowed"] / "data" / "sub" / ".." / ".." / ".." / "outside"),
        "outside",
        id="dotdot-deep",
    ),
    pytest.param(
        lambda t: str(t["allowed"] / "nope" / ".." / ".." / "outside"),
        "outside",
        id="dotdot-through-missing",
    ),
    pytest.param(lambda t: str(t["evil"]), None, id="name-prefix-sibling"),
    pytest.param(
        lambda t: str(t["allowed"] / "out" / "new" / "deeper"),
        "new-deeper",
        id="new-folder-under-link-out",
    ),
]
RESOLVED = {
    "outside": lambda t: t["outside"],
    "secret": lambda t: t["outside"] / "secret.txt",
    "new-deeper": lambda t: t["outside"] / "new" / "deeper",
}


@pytest.mark.parametrize(("raw", "resolved"), REFUSED_PATHS)
def test_paths_outside_the_roots_are_refused(roots_tree, raw, resolved):
    text = raw(roots_tree)
    with pytest.raises(AccessError) as err:
        access.check_path(policy_of(roots_tree), text, what="The dataset", exists=False)
    expected = RESOLVED[resolved](roots_tree) if resolved else None
    assert str(err.value) == outside_message_for(
        "The dataset", text, [roots_tree["allowed"]], expected
    )
    assert (roots_tree["outside"] / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in roots_tree["outside"].iterdir()) == ["secret.txt"]


def test_a_relative_path_and_home_are_resolved_before_the_check(roots_tree, monkeypatch):
    monkeypatch.chdir(roots_tree["allowed"] / "data")
    monkeypatch.setenv("HOME", str(roots_tree["outside"]))
    policy = policy_of(roots_tree)
    assert access.check_path(policy, "sub", what="x") == roots_tree["allowed"] / "data" / "sub"
    for raw, resolved in (("../../outside", roots_tree["outside"]), ("~", roots_tree["outside"]),
                          ("~/secret.txt", roots_tree["outside"] / "secret.txt")):  # fmt: skip
        with pytest.raises(AccessError) as err:
            access.check_path(policy, raw, what="The folder")
        assert str(err.value) == outside_message_for(
            "The folder", raw, [roots_tree["allowed"]], resolved
        )


def test_a_refused_path_says_nothing_about_whether_it_exists(roots_tree):
    policy = policy_of(roots_tree)
    messages = []
    for name in ("secret.txt", "no-such-file"):
        raw = str(roots_tree["outside"] / name)
        with pytest.raises(AccessError) as err:
            access.check_path(policy, raw, what="The dataset")
        messages.append(str(err.value).replace(name, "NAME"))
    assert messages[0] == messages[1]


ACCEPTED_PATHS = [
    pytest.param(lambda t: t["allowed"], "any", True, lambda t: t["allowed"], id="the-root"),
    pytest.param(
        lambda t: t["allowed"] / "data" / "sub",
        "dir",
        True,
        lambda t: t["allowed"] / "data" / "sub",
        id="subfolder",
    ),
    pytest.param(
        lambda t: t["allowed"] / "in" / "file.txt",
        "file",
        True,
        lambda t: t["allowed"] / "data" / "file.txt",
        id="link-inside",
    ),
    pytest.param(
        lambda t: f"  {t['allowed']}/./data//sub/  ",
        "dir",
        True,
        lambda t: t["allowed"] / "data" / "sub",
        id="spelling",
    ),
    pytest.param(
        lambda t: t["allowed"] / "new" / "deeper",
        "dir",
        False,
        lambda t: t["allowed"] / "new" / "deeper",
        id="new-folder",
    ),
]


@pytest.mark.parametrize(("raw", "expect", "exists", "resolved"), ACCEPTED_PATHS)
def test_paths_inside_the_roots_resolve(roots_tree, raw, expect, exists, resolved):
    got = access.check_path(
        policy_of(roots_tree), str(raw(roots_tree)), what="x", expect=expect, exists=exists
    )
    assert got == resolved(roots_tree)
    assert not (roots_tree["allowed"] / "new").exists()  # checking creates nothing


KIND_ERRORS = [
    pytest.param(
        "data/file.txt",
        "dir",
        True,
        "The folder `{p}` is a file, not a folder. Fix.",
        id="file-for-folder",
    ),
    pytest.param(
        "data", "file", True, "The folder `{p}` is a folder, not a file. Fix.", id="folder-for-file"
    ),
    pytest.param("gone", "any", True, "The folder `{p}` does not exist. Fix.", id="missing"),
    pytest.param(
        "", "any", True, "The folder: no path given; enter one in the field. Fix.", id="empty"
    ),
]


@pytest.mark.parametrize(("rel", "expect", "exists", "message"), KIND_ERRORS)
def test_wrong_kind_or_missing_paths_inside_the_roots(roots_tree, rel, expect, exists, message):
    raw = str(roots_tree["allowed"] / rel) if rel else ""
    with pytest.raises(AccessError) as err:
        access.check_path(policy_of(roots_tree), raw, what="The folder", expect=expect, fix="Fix.")
    assert str(err.value) == message.format(p=raw)


def test_a_nul_byte_is_refused(roots_tree):
    with pytest.raises(AccessError, match="^A path cannot contain a NUL character.$"):
        access.check_path(policy_of(roots_tree), f"{roots_tree['allowed']}/a\x00b", what="x")


def test_the_policy_from_the_environment(tmp_path):
    data = tmp_path / "d"
    (data / "exports").mkdir(parents=True)
    (data / "manifest.csv").write_text("image\n")
    env = {
        "WORKBENCH_WORKSPACE": str(tmp_path / "ws"),
        "WORKBENCH_CACHE": str(tmp_path / "cache"),
        "WORKBENCH_DATA": str(data / "manifest.csv"),  # a manifest: its folder is the root
        "WORKBENCH_CHECKPOINTS": str(tmp_path / "series"),
        "WORKBENCH_STORE": str(tmp_path / "team" / "tags.sqlite"),
        "WORKBENCH_ALLOWED_STORES": "postgresql+psycopg://a:pw@db.example/tags sqlite:////x/y.db",
    }
    policy = Policy.from_env(env)
    assert policy.roots == (
        (ROOT / "sample_data").resolve(), tmp_path / "ws", tmp_path / "cache", data,
        tmp_path / "series",
    )  # fmt: skip
    assert policy.files == (tmp_path / "team" / "tags.sqlite", Path("/x/y.db"))
    assert [u.render_as_string(hide_password=False) for u in policy.store_urls] == [
        "postgresql+psycopg://a:pw@db.example/tags"
    ]
    assert policy.allows(tmp_path / "team" / "tags.sqlite")
    assert not policy.allows(tmp_path / "team" / "other.sqlite")  # the file, not its folder
    replaced = Policy.from_env({**env, ROOTS_VAR: f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"})
    assert replaced.roots[:2] == (tmp_path / "a", tmp_path / "b")
    assert (ROOT / "sample_data").resolve() not in replaced.roots
    with pytest.raises(AccessError, match="cannot read the database URL"):
        Policy.from_env({"WORKBENCH_STORE": "postgresql://[::1"})
