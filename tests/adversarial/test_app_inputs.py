"""Hostile and careless input to the app: sidebar paths, store URLs, page outputs and uploads.

Part 1 checks :mod:`workbench.access` directly (paths in and out of the allowed roots, symlinks,
``..``, URL schemes, uploads). Part 2 drives the pages through ``app.py`` with Streamlit's
AppTest and asserts, for each bad value, the exact message the page shows and that nothing
appeared outside the test's allowed folders (:class:`TreeWatch`). The real server (loopback
binding, the browser, sign-in) is in ``test_app_server.py``.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st
from PIL import Image
from sqlalchemy.engine import make_url
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from curation.dataset import load_dataset
from curation.store import TagStore
from tests.adversarial.conftest import ROOT, run_bounded
from workbench import access
from workbench.access import AccessError, Policy, UploadLimits

APP = str(ROOT / "app.py")
ROOTS_VAR = "WORKBENCH_ALLOWED_ROOTS"


# -- corpus builders -------------------------------------------------------------------------


def _chunk(tag: bytes, data: bytes) -> bytes:
    body = tag + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


@functools.cache
def bomb_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of ``width``×``height`` black pixels, compressed row by row (a
    12000×12000 one is 420 KB on disk and 432 MB decoded), built without holding its pixels."""
    comp = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0 and a black row
    idat = b"".join([comp.compress(row) for _ in range(height)] + [comp.flush()])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def photo_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 128)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_png(12000, 12000)


# -- part 1: workbench.access ----------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """``allowed/`` (the only root) with a folder, a file, links in and out; ``outside/`` with
    a secret; ``allowed-evil/`` whose name starts with the root's."""
    allowed, outside, evil = tmp_path / "allowed", tmp_path / "outside", tmp_path / "allowed-evil"
    (allowed / "data" / "sub").mkdir(parents=True)
    (allowed / "data" / "file.txt").write_text("inside")
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    evil.mkdir()
    (allowed / "out").symlink_to(outside)
    (allowed / "in").symlink_to(allowed / "data")
    (allowed / "filelink").symlink_to(outside / "secret.txt")
    return {"tmp": tmp_path, "allowed": allowed, "outside": outside, "evil": evil}


def _policy(tree) -> Policy:
    return Policy(roots=(tree["allowed"],))


def _outside(what: str, raw: str, roots: list[Path], resolved: Path | None = None) -> str:
    shown = f"`{raw}`" + (f" (resolves to `{resolved}`)" if resolved is not None else "")
    listed = ", ".join(f"`{r}`" for r in roots)
    return (
        f"{what} {shown} is outside the folders this app may use: {listed}. Choose a path "
        f"inside one of them, or ask whoever runs the app to add the folder to {ROOTS_VAR}."
    )


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
def test_paths_outside_the_roots_are_refused(tree, raw, resolved):
    text = raw(tree)
    with pytest.raises(AccessError) as err:
        access.check_path(_policy(tree), text, what="The dataset", exists=False)
    expected = RESOLVED[resolved](tree) if resolved else None
    assert str(err.value) == _outside("The dataset", text, [tree["allowed"]], expected)
    assert (tree["outside"] / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in tree["outside"].iterdir()) == ["secret.txt"]


def test_a_relative_path_and_home_are_resolved_before_the_check(tree, monkeypatch):
    monkeypatch.chdir(tree["allowed"] / "data")
    monkeypatch.setenv("HOME", str(tree["outside"]))
    policy = _policy(tree)
    assert access.check_path(policy, "sub", what="x") == tree["allowed"] / "data" / "sub"
    for raw, resolved in (("../../outside", tree["outside"]), ("~", tree["outside"]),
                          ("~/secret.txt", tree["outside"] / "secret.txt")):  # fmt: skip
        with pytest.raises(AccessError) as err:
            access.check_path(policy, raw, what="The folder")
        assert str(err.value) == _outside("The folder", raw, [tree["allowed"]], resolved)


def test_a_refused_path_says_nothing_about_whether_it_exists(tree):
    policy = _policy(tree)
    messages = []
    for name in ("secret.txt", "no-such-file"):
        raw = str(tree["outside"] / name)
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
def test_paths_inside_the_roots_resolve(tree, raw, expect, exists, resolved):
    got = access.check_path(_policy(tree), str(raw(tree)), what="x", expect=expect, exists=exists)
    assert got == resolved(tree)
    assert not (tree["allowed"] / "new").exists()  # checking creates nothing


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
def test_wrong_kind_or_missing_paths_inside_the_roots(tree, rel, expect, exists, message):
    raw = str(tree["allowed"] / rel) if rel else ""
    with pytest.raises(AccessError) as err:
        access.check_path(_policy(tree), raw, what="The folder", expect=expect, fix="Fix.")
    assert str(err.value) == message.format(p=raw)


def test_a_nul_byte_is_refused(tree):
    with pytest.raises(AccessError, match="^A path cannot contain a NUL character.$"):
        access.check_path(_policy(tree), f"{tree['allowed']}/a\x00b", what="x")


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


# -- store URLs --------------------------------------------------------------------------------


def _store_refused(shown: str, ws: Path) -> str:
    return (
        f"The tag store {shown} is not one this app is configured for: database servers are "
        "reached only through the URLs set when the app is started (WORKBENCH_STORE or "
        f"WORKBENCH_ALLOWED_STORES). Give a SQLite file such as `{ws / 'tags.sqlite'}`."
    )


REFUSED_URLS = [
    pytest.param("postgresql+psycopg://u@127.0.0.1:5432/db", "`{u}`", id="postgres-unconfigured"),
    pytest.param(
        "postgresql+psycopg://u:hunter2@10.0.0.9/db",
        "`postgresql+psycopg://u:***@10.0.0.9/db`",
        id="password-hidden",
    ),
    pytest.param("mysql+pymysql://root@localhost/mysql", "`{u}`", id="mysql"),
    pytest.param("nosuch://x/y", "`{u}`", id="unknown-scheme"),
    pytest.param("http://169.254.169.254/latest/meta-data", "`{u}`", id="http"),
    pytest.param("postgresql://[::1", "this URL", id="malformed"),
    pytest.param(
        "sqlite+pysqlcipher://:key@/x.db",
        "`sqlite+pysqlcipher://:***@/x.db`",
        id="other-sqlite-driver",
    ),
]


@pytest.mark.parametrize(("url", "shown"), REFUSED_URLS)
def test_unconfigured_database_urls_are_refused(tree, monkeypatch, url, shown):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tree["allowed"]))
    with pytest.raises(AccessError) as err:
        access.check_store(_policy(tree), url)
    assert str(err.value) == _store_refused(shown.format(u=url), tree["allowed"])
    assert "hunter2" not in str(err.value)


def test_a_refused_url_is_never_connected_to(tree):
    """The message cannot depend on what listens there: nothing is even tried."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with pytest.raises(AccessError) as err:
            access.check_store(_policy(tree), f"postgresql+psycopg://u@127.0.0.1:{port}/db")
        srv.settimeout(0.3)
        with pytest.raises(TimeoutError):
            srv.accept()
    closed = f"postgresql+psycopg://u@127.0.0.1:{port}/db"  # nothing listens there any more
    with pytest.raises(AccessError) as err2:
        access.check_store(_policy(tree), closed)
    assert str(err.value) == str(err2.value)


SQLITE_URLS = [
    pytest.param("sqlite:///{outside}/t.sqlite", "outside", id="sqlite-url-outside"),
    pytest.param("sqlite:////etc/passwd", "etc", id="sqlite-url-etc"),
    pytest.param("sqlite:///:memory:", "memory", id="in-memory"),
    pytest.param("sqlite:///{allowed}/t.sqlite?mode=ro&uri=true", "options", id="url-options"),
    pytest.param("sqlite://", "memory", id="no-database"),
]


@pytest.mark.parametrize(("url", "kind"), SQLITE_URLS)
def test_sqlite_urls_obey_the_path_policy(tree, monkeypatch, url, kind):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tree["allowed"]))
    url = url.format(outside=tree["outside"], allowed=tree["allowed"])
    with pytest.raises(AccessError) as err:
        access.check_store(_policy(tree), url)
    fix = f"Give a SQLite file such as `{tree['allowed'] / 'tags.sqlite'}`."
    if kind == "outside":
        path = f"{tree['outside']}/t.sqlite"
        assert str(err.value) == _outside("The tag store", path, [tree["allowed"]])
    elif kind == "etc":
        assert str(err.value) == _outside("The tag store", "/etc/passwd", [tree["allowed"]])
    else:
        assert str(err.value).endswith(
            "is not a plain SQLite file (in-memory stores and URL options are refused). " + fix
        )
    assert sorted(p.name for p in tree["outside"].iterdir()) == ["secret.txt"]


def test_allowed_stores(tree):
    configured = "postgresql+psycopg://team:s3cret@db.example:5432/tags"
    policy = Policy(roots=(tree["allowed"],), store_urls=(make_url(configured),))
    assert access.check_store(policy, configured) == configured
    # the sidebar shows the configured URL with its password hidden; that form means it too
    hidden = access.public_store(configured)
    assert hidden == "postgresql+psycopg://team:***@db.example:5432/tags"
    assert access.check_store(policy, hidden) == configured
    with pytest.raises(AccessError):  # another host with the hidden password is not it
        access.check_store(policy, "postgresql+psycopg://team:***@evil.example:5432/tags")
    assert access.check_store(policy, f"{tree['allowed']}/t.sqlite") == tree["allowed"] / "t.sqlite"
    assert access.check_store(policy, f"sqlite:///{tree['allowed']}/u.db") == (
        tree["allowed"] / "u.db"
    )
    with pytest.raises(AccessError, match="is a folder, not a file"):
        access.check_store(policy, str(tree["allowed"]))
    assert access.public_store("postgresql://[::1") == "(a database URL that cannot be read)"


# -- uploads -----------------------------------------------------------------------------------

FORMATS = "BMP, GIF, JPEG, PNG, TIFF, WEBP"


def _uploads(bomb: bytes) -> list:
    jpeg = photo_bytes("JPEG", (256, 256))
    png = photo_bytes("PNG", (256, 256))
    return [
        pytest.param(
            bomb,
            "bomb.png",
            "`bomb.png` is 12000×12000 pixels (144.0 MP); photos are limited to 25 megapixels. "
            "Scale it down (e.g. to 2000 pixels on the long side) and upload it again.",
            id="bomb-png-12000x12000",
        ),
        pytest.param(
            b"\xff\xd8\xff" + bytes(21_000_000),
            "huge.jpg",
            "`huge.jpg` is 21.0 MB; uploads are limited to 20 MB. Upload a smaller photo "
            "(re-save it as JPEG or scale it down).",
            id="huge-file",
        ),
        pytest.param(
            b"#!/bin/sh\nrm -rf /\n" * 20,
            "photo.png",
            "`photo.png` is not an image (no format Pillow reads matches its content); upload a "
            f"photo in one of: {FORMATS}.",
            id="not-an-image",
        ),
        pytest.param(
            b"", "empty.jpg", "`empty.jpg` is empty: upload a JPEG or PNG photo.", id="empty"
        ),
        pytest.param(
            jpeg[: len(jpeg) // 2],
            "cut.jpg",
            "`cut.jpg` is truncated or damaged (image file is truncated (26 bytes not "
            "processed)); upload the complete file.",
            id="truncated-jpeg",
        ),
        pytest.param(
            png[: len(png) // 2],
            "cut.png",
            "`cut.png` is truncated or damaged (image file is truncated); upload the complete "
            "file.",
            id="truncated-png",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + b"garbage" * 20,
            "broken.png",
            "`broken.png` has a damaged image header (Truncated File Read).",
            id="damaged-header",
        ),
        pytest.param(
            b"P6\n4 4\n255\n" + bytes(48),
            "x.jpg",
            f"`x.jpg` is a PPM image; upload a photo in one of: {FORMATS}.",
            id="unlisted-format",
        ),
    ]


def pytest_generate_tests(metafunc):
    if "bad_upload" in metafunc.fixturenames:
        metafunc.parametrize(("bad_upload", "upload_name", "upload_message"),
                             _uploads(bomb_png(12000, 12000)))  # fmt: skip


def test_bad_uploads_are_refused_before_decoding(bad_upload, upload_name, upload_message):
    with pytest.raises(AccessError) as err:
        access.check_upload(bad_upload, upload_name)
    message = str(err.value)
    if "26 bytes not processed" in upload_message:  # the count depends on where the cut falls
        message = re.sub(r"\(\d+ bytes not processed\)", "(26 bytes not processed)", message)
    assert message == upload_message


def test_a_good_upload_passes_with_its_size():
    data = photo_bytes("PNG", (300, 200))
    checked = access.check_upload(data, "cat.png")
    assert (checked.format, checked.size, checked.suffix, checked.data) == (
        "PNG", (300, 200), ".png", data
    )  # fmt: skip
    limits = UploadLimits(max_bytes=10**6, max_pixels=300 * 200)  # exactly at the cap: allowed
    assert access.check_upload(data, "cat.png", limits).size == (300, 200)
    with pytest.raises(AccessError, match=r"is 300×200 pixels \(0\.1 MP\)"):
        access.check_upload(data, "cat.png", UploadLimits(10**6, 300 * 200 - 1))


def test_upload_limits_from_the_environment():
    assert UploadLimits.from_env({}) == UploadLimits(20_000_000, 25_000_000)
    got = UploadLimits.from_env({access.ENV_UPLOAD_MB: "2.5", access.ENV_UPLOAD_PIXELS: "1000"})
    assert got == UploadLimits(2_500_000, 1000)
    with pytest.raises(AccessError, match="must be a number of megabytes"):
        UploadLimits.from_env({access.ENV_UPLOAD_MB: "lots"})
    with pytest.raises(AccessError, match="must be positive"):
        UploadLimits.from_env({access.ENV_UPLOAD_PIXELS: "0"})


BOUNDED_CHECK = """
import sys
from pathlib import Path
from workbench.access import AccessError, check_upload
data = Path(sys.argv[1]).read_bytes()
try:
    check_upload(data, "bomb.png")
except AccessError as exc:
    print(exc)
"""
BOUNDED_DECODE = """
import sys
from PIL import Image
with Image.open(sys.argv[1]) as img:
    img.load()
print("decoded", img.size)
"""


def test_the_bomb_check_stays_within_300_mb_where_decoding_does_not(tmp_path, bomb):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    checked = run_bounded(["-c", BOUNDED_CHECK, str(path)], memory_mb=300, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("`bomb.png` is 12000×12000 pixels (144.0 MP)")
    # the control: what the page did before (decode it) does not fit in the same bound
    decoded = run_bounded(["-c", BOUNDED_DECODE, str(path)], memory_mb=300, timeout=120)
    assert decoded.returncode != 0 and "MemoryError" in decoded.stderr, decoded.stdout


def test_a_temporary_upload_is_removed_also_when_the_body_fails(tmp_path):
    checked = access.check_upload(photo_bytes(), "dog.jpg")
    with access.temporary_upload(checked, tmp_path / "uploads") as path:
        assert path.parent == tmp_path / "uploads" and path.read_bytes() == checked.data
        assert path.suffix == ".jpg" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert list((tmp_path / "uploads").iterdir()) == []
    with pytest.raises(RuntimeError), access.temporary_upload(checked, tmp_path / "uploads"):
        raise RuntimeError("the page failed")
    assert list((tmp_path / "uploads").iterdir()) == []


TRACEBACK_LOG = """epoch 1/3 done
Traceback (most recent call last):
  File "/srv/app/workbench/train.py", line 10, in <module>
    main()
  File "/srv/app/workbench/train.py", line 8, in main
    raise ValueError("bad value")
ValueError: bad value

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/x.py", line 2, in <module>
RuntimeError: gave up
"""


def test_job_logs_lose_their_traceback_frames_but_keep_the_error():
    assert access.without_tracebacks(TRACEBACK_LOG) == (
        "epoch 1/3 done\n"
        "(traceback omitted here; it is in the job's log file on the server)\n"
        "ValueError: bad value\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "(traceback omitted here; it is in the job's log file on the server)\n"
        "RuntimeError: gave up\n"
    )
    tail = "\n".join(TRACEBACK_LOG.split("\n")[4:7])  # a tail that starts at a frame
    assert access.without_tracebacks(tail) == "ValueError: bad value"
    assert access.without_tracebacks("plain\n  indented output\n") == "plain\n  indented output\n"


# -- exposure --------------------------------------------------------------------------------

EXPOSURE = [
    pytest.param("127.0.0.1", False, {}, "local", id="loopback"),
    pytest.param("127.0.0.2", False, {}, "local", id="loopback-range"),
    pytest.param("::1", False, {}, "local", id="ipv6-loopback"),
    pytest.param("localhost", False, {}, "local", id="localhost"),
    pytest.param("unix:///tmp/wb.sock", False, {}, "local", id="unix-socket"),
    pytest.param(None, False, {}, "refused", id="unset-every-interface"),
    pytest.param("0.0.0.0", False, {}, "refused", id="wildcard"),
    pytest.param("::", False, {}, "refused", id="ipv6-wildcard"),
    pytest.param("192.168.1.20", False, {}, "refused", id="lan-address"),
    pytest.param("workbench.example", False, {}, "refused", id="host-name"),
    pytest.param("0.0.0.0", False, {access.ENV_UNAUTHENTICATED: "1"}, "open", id="proxy-opt-in"),
    pytest.param("0.0.0.0", False, {access.ENV_UNAUTHENTICATED: "0"}, "refused", id="opt-in-0"),
    pytest.param("0.0.0.0", True, {}, "authenticated", id="auth-configured"),
    pytest.param("127.0.0.1", True, {}, "authenticated", id="auth-on-loopback"),
]


@pytest.mark.parametrize(("address", "auth", "env", "mode"), EXPOSURE)
def test_exposure(address, auth, env, mode):
    assert access.exposure(address, auth=auth, env=env) == mode


def test_the_shipped_streamlit_config_is_safe():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["maxUploadSize"] == access.UPLOAD_MAX_MB
    assert cfg["client"]["showErrorDetails"] == "none"
    assert "--server.address $(ADDRESS)" in (ROOT / "Makefile").read_text()
    assert "ADDRESS ?= 127.0.0.1" in (ROOT / "Makefile").read_text()


# -- part 2: the pages with hostile sidebar values (AppTest) ---------------------------------


@dataclass
class World:
    tmp: Path
    allowed: Path
    ws: Path
    outside: Path
    evil: Path
    data: Path
    series: Path
    cache: Path

    @property
    def roots(self) -> list[Path]:
        return [self.allowed, self.ws, self.cache, self.data, self.series]

    def outside_message(self, what: str, raw: str, resolved: Path | None = None) -> str:
        return _outside(what, raw, self.roots, resolved)


@pytest.fixture
def world(app_world, tmp_path, monkeypatch) -> World:
    """The shared generated dataset and series as the configured workspace, an allowed root
    with bad files in it, and ``outside/`` holding a valid copy of the dataset and series."""
    w = World(
        tmp=tmp_path, allowed=tmp_path / "allowed", ws=tmp_path / "ws",
        outside=tmp_path / "outside", evil=tmp_path / "allowed-evil", data=app_world["data"],
        series=app_world["series"], cache=app_world["base"] / "cache",
    )  # fmt: skip
    for d in (w.allowed, w.ws, w.outside):
        d.mkdir()
    shutil.copytree(w.data, w.outside / "pets")
    shutil.copytree(w.series, w.outside / "series")
    (w.outside / "secret.txt").write_text("secret")
    shutil.copytree(w.data, w.evil / "pets")
    (w.allowed / "notes.txt").write_text("not a manifest")
    (w.allowed / "ckfile").write_text("not a folder")
    (w.allowed / "textck").mkdir()
    (w.allowed / "textck" / "model.pth.tar-5").write_text("not a checkpoint")
    (w.allowed / "notdb.sqlite").write_text("this is not a database\n" * 20)
    (w.allowed / "link").symlink_to(w.outside)
    env = {
        "WORKBENCH_DATA": str(w.data), "WORKBENCH_CHECKPOINTS": str(w.series),
        "WORKBENCH_STORE": str(w.ws / "tags.sqlite"), "WORKBENCH_CACHE": str(w.cache),
        "WORKBENCH_WORKSPACE": str(w.ws), ROOTS_VAR: str(w.allowed),
    }  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(access.ENV_UNAUTHENTICATED, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    return w


def start(page: str = "home", **widgets: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for key, value in widgets.items():
        at.text_input(key=key).input(value).run()
    if page != "home":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def shown(at: AppTest) -> list[str]:
    return [e.value for e in at.error] + [i.value for i in at.info] + [w.value for w in at.warning]


def assert_no_failure(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not any("Unexpected error" in e.value for e in at.error), shown(at)


OUTSIDE = "is outside the folders"
SIDEBAR = [
    # (key, value from the world, page, expected message (None: outside message), resolved)
    pytest.param(
        "workspace.data",
        lambda w: str(w.allowed / "nowhere"),
        "home",
        lambda w: (
            f"The dataset `{w.allowed / 'nowhere'}` does not exist. "
            "Enter a dataset folder (train/ query/ gallery/) or a manifest .csv/.parquet."
        ),
        id="data-missing",
    ),
    pytest.param(
        "workspace.data",
        lambda w: str(w.allowed / "notes.txt"),
        "home",
        lambda w: (
            f"The dataset `{w.allowed / 'notes.txt'}` is a file but not a "
            "manifest (.csv or .parquet). Enter a dataset folder (train/ query/ gallery/) "
            "or a manifest .csv/.parquet."
        ),
        id="data-text-file",
    ),
    pytest.param("workspace.data", lambda w: "/etc", "home", None, id="data-etc"),
    pytest.param(
        "workspace.data",
        lambda w: str(w.outside / "pets"),
        "home",
        None,
        id="data-valid-dataset-outside",
    ),
    pytest.param(
        "workspace.data",
        lambda w: str(w.allowed / "link" / "pets"),
        "home",
        None,
        id="data-symlink-out",
    ),
    pytest.param(
        "workspace.data", lambda w: f"{w.allowed}/../outside/pets", "home", None, id="data-dotdot"
    ),
    pytest.param(
        "workspace.data",
        lambda w: str(w.evil / "pets"),
        "home",
        None,
        id="data-name-prefix-sibling",
    ),
    pytest.param(
        "workspace.checkpoints",
        lambda w: str(w.allowed / "nope"),
        "home",
        lambda w: (
            f"The checkpoint folder `{w.allowed / 'nope'}` does not exist. "
            "Enter a folder with model.pth.tar-N files in the sidebar."
        ),
        id="ckpt-missing",
    ),
    pytest.param(
        "workspace.checkpoints",
        lambda w: str(w.allowed / "ckfile"),
        "home",
        lambda w: (
            f"The checkpoint folder `{w.allowed / 'ckfile'}` is a file, not a "
            "folder. Enter a folder with model.pth.tar-N files in the sidebar."
        ),
        id="ckpt-file-not-folder",
    ),
    pytest.param(
        "workspace.checkpoints",
        lambda w: str(w.allowed / "textck"),
        "checkpoints",
        lambda w: (
            f"The checkpoints in `{w.allowed / 'textck'}` cannot be loaded.\n\n"
            f"```\n{w.allowed / 'textck' / 'model.pth.tar-5'}: a text file, not a PyTorch "
            "checkpoint (it begins with 'not a checkpoint'); point at a model.pth.tar-N / "
            ".pth file\n```"
        ),
        id="ckpt-text-file-checkpoint",
    ),
    pytest.param("workspace.checkpoints", lambda w: "/etc", "home", None, id="ckpt-etc"),
    pytest.param(
        "workspace.checkpoints",
        lambda w: str(w.outside / "series"),
        "checkpoints",
        None,
        id="ckpt-valid-series-outside",
    ),
    pytest.param(
        "workspace.store",
        lambda w: str(w.allowed / "notdb.sqlite"),
        "home",
        lambda w: (
            f"{w.allowed / 'notdb.sqlite'} is not a tag store (the file is not an SQLite "
            "database); give the path of a tags.sqlite file, or a new file name to start an "
            "empty store"
        ),
        id="store-not-sqlite",
    ),
    pytest.param(
        "workspace.store",
        lambda w: str(w.allowed),
        "home",
        lambda w: (
            f"The tag store `{w.allowed}` is a folder, not a file. Give a SQLite "
            f"file such as `{w.ws / 'tags.sqlite'}`."
        ),
        id="store-folder",
    ),
    pytest.param(
        "workspace.store",
        lambda w: str(w.outside / "deep" / "er" / "t.sqlite"),
        "home",
        None,
        id="store-new-file-outside",
    ),
    pytest.param("workspace.store", lambda w: "/etc/passwd", "home", None, id="store-etc-passwd"),
    pytest.param(
        "workspace.store",
        lambda w: f"sqlite:///{w.outside}/u.sqlite",
        "home",
        lambda w: w.outside_message("The tag store", f"{w.outside}/u.sqlite"),
        id="store-sqlite-url-outside",
    ),
    pytest.param(
        "workspace.store",
        lambda w: "nosuch://x/y",
        "home",
        lambda w: _store_refused("`nosuch://x/y`", w.ws),
        id="store-unknown-scheme",
    ),
    pytest.param(
        "workspace.store",
        lambda w: "postgresql+psycopg://u:pw@127.0.0.1:9/db",
        "triage",
        lambda w: _store_refused("`postgresql+psycopg://u:***@127.0.0.1:9/db`", w.ws),
        id="store-postgres-unconfigured",
    ),
]
RESOLVES = {
    "data-symlink-out": lambda w: w.outside / "pets",
    "data-dotdot": lambda w: w.outside / "pets",
}
WHAT = {
    "workspace.data": "The dataset",
    "workspace.checkpoints": "The checkpoint folder",
    "workspace.store": "The tag store",
}


@pytest.mark.parametrize(("key", "value", "page", "expected"), SIDEBAR)
def test_hostile_sidebar_values_get_a_message(world, watch, request, key, value, page, expected):
    outside, evil = watch(world.outside), watch(world.evil)
    raw = value(world)
    at = start(page, **{key: raw})
    assert_no_failure(at)
    case = request.node.callspec.id
    if expected is None:
        resolved = RESOLVES.get(case, lambda w: None)(world)
        want = world.outside_message(WHAT[key], raw, resolved)
    else:
        want = expected(world)
    assert want in [e.value for e in at.error], shown(at)
    if key == "workspace.data":  # nothing of a refused dataset is shown
        assert not [m for m in at.metric if m.label in ("train", "query", "gallery")]
    if key == "workspace.checkpoints":
        assert not [m for m in at.metric if m.label.startswith("epoch ")]
    outside.assert_unchanged()
    evil.assert_unchanged()


PAGES = ("home", "checkpoints", "heatmaps", "triage", "curate", "retrain", "compare", "search")
# the pages that read each value (Retrain reads no dataset; Compare asks for its curated series
# before it loads any checkpoints; Curate reads no checkpoints)
NEEDS = {
    "workspace.data": set(PAGES) - {"retrain"},
    "workspace.checkpoints": {"home", "checkpoints", "heatmaps", "triage", "search"},
    "workspace.store": {"home", "heatmaps", "triage", "curate"},
}
EVERY_PAGE = [
    pytest.param("workspace.data", lambda w: str(w.allowed / "nowhere"), id="missing-folder"),
    pytest.param("workspace.checkpoints", lambda w: str(w.allowed / "ckfile"), id="file"),
    pytest.param("workspace.data", lambda w: "/etc", id="etc"),
    pytest.param("workspace.checkpoints", lambda w: str(w.allowed / "textck"), id="text-ckpt"),
    pytest.param("workspace.store", lambda w: str(w.allowed / "notdb.sqlite"), id="not-sqlite"),
]


@pytest.mark.parametrize(("key", "value"), EVERY_PAGE)
def test_every_page_with_a_bad_value_shows_a_message(world, key, value):
    """The pages that read the value say why they cannot use it; none shows a traceback."""
    at = start(**{key: value(world)})
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert_no_failure(at)
        assert at.title, page
        assert bool(at.error) == (page in NEEDS[key]), (page, shown(at))


def _nothing() -> None:
    """A child process's whole work."""


def test_a_process_spawned_after_an_app_run_starts(world):
    """AppTest leaves app.py as ``__main__``; a spawned child (the store's concurrency test
    uses them) runs it again outside any Streamlit runtime, where it must do nothing."""
    import multiprocessing as mp

    assert_no_failure(start())
    child = mp.get_context("spawn").Process(target=_nothing)
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0


def test_a_refused_database_url_reads_the_same_whatever_listens(world):
    """Before: "Connection refused" for a closed port, "invalid response to SSL negotiation"
    for a web server: the sidebar was a port scanner."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        open_port = srv.getsockname()[1]
        with socket.socket() as tmp:
            tmp.bind(("127.0.0.1", 0))
            closed_port = tmp.getsockname()[1]
        messages = []
        for port in (open_port, closed_port):
            url = f"postgresql+psycopg://u@127.0.0.1:{port}/db"
            at = start(**{"workspace.store": url})
            assert_no_failure(at)
            errors = [
                e.value.replace(str(port), "PORT") for e in at.error if "tag store" in e.value
            ]
            messages.append(errors)
        srv.settimeout(0.2)
        with pytest.raises(TimeoutError):
            srv.accept()  # nothing ever connected
    assert (
        messages[0]
        == messages[1]
        == [_store_refused("`postgresql+psycopg://u@127.0.0.1:PORT/db`", world.ws)]
    )


def test_the_configured_store_url_is_shown_without_its_password(world, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STORE", "postgresql+psycopg://team:s3cret@127.0.0.1:9/tags")
    at = start()
    assert at.text_input(key="workspace.store").value == (
        "postgresql+psycopg://team:***@127.0.0.1:9/tags"
    )
    assert not any("s3cret" in v for v in shown(at))


@pytest.fixture
def read_only_store(world) -> Path:
    """A tag store the app cannot write: mode 0444, and immutable (chattr +i) for root."""
    path = world.allowed / "ro.sqlite"
    TagStore(path).close()
    files = sorted(world.allowed.glob("ro.sqlite*"))
    for f in files:
        f.chmod(0o444)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"root ignores file modes and chattr failed: {done.stderr!r}")
    yield path
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


def test_a_read_only_store_says_not_saved_instead_of_a_traceback(world, read_only_store):
    at = start("triage", **{"workspace.store": str(read_only_store)})
    assert_no_failure(at)
    at.text_input(key="workspace.annotator").input("eve").run()
    at.button(key="triage.b.worked").click().run()
    assert_no_failure(at)
    assert (
        f"Not saved: The tag store {read_only_store} is read-only (attempt to write a readonly "
        f"database); nothing was saved; make it (and {read_only_store.parent}) writable, or copy "
        "it to a writable folder and pass that copy as --store"
    ) in [w.value for w in at.warning], shown(at)
    assert TagStore(read_only_store).count() == 0


# -- what the pages write --------------------------------------------------------------------


def test_curate_refuses_an_export_folder_outside_the_roots(world, watch):
    outside = watch(world.outside)
    at = start("curate")
    target = world.outside / "exports" / "cleaned"
    at.text_input(key="curate.out").input(str(target)).run()
    at.button(key="curate.export").click().run()
    assert_no_failure(at)
    want = "The export was not written: " + world.outside_message("The output folder", str(target))
    assert [e.value for e in at.error] == [want]
    outside.assert_unchanged()
    at.text_input(key="curate.out").input(str(world.allowed / "notes.txt")).run()
    at.button(key="curate.export").click().run()
    assert [e.value for e in at.error] == [
        f"The export was not written: The output folder `{world.allowed / 'notes.txt'}` is a "
        "file, not a folder. Give a new folder, or an earlier export to replace."
    ]
    assert (world.allowed / "notes.txt").read_text() == "not a manifest"


def test_compare_refuses_a_series_and_a_report_folder_outside(world, watch, app_world):
    outside = watch(world.outside)
    at = start("compare")
    at.text_input(key="compare.curated").input(str(world.outside / "series")).run()
    assert_no_failure(at)
    assert world.outside_message("The checkpoint folder", str(world.outside / "series")) in [
        e.value for e in at.error
    ]
    at.text_input(key="compare.curated").input(str(app_world["curated"])).run()
    assert world.outside_message("The checkpoint folder", str(app_world["curated"])) in [
        e.value for e in at.error
    ]  # the shared tmp folder is not a root here; copy it into the allowed one
    shutil.copytree(app_world["curated"], world.allowed / "curated")
    at.text_input(key="compare.curated").input(str(world.allowed / "curated")).run()
    at.number_input(key="compare.n").set_value(1).run()
    at.number_input(key="compare.limit").set_value(10).run()
    at.button(key="compare.run").click().run()
    assert_no_failure(at)
    report = world.outside / "report"
    at.text_input(key="compare.out").input(str(report)).run()
    at.button(key="compare.write").click().run()
    assert [e.value for e in at.error] == [
        "The report was not written: " + world.outside_message("The report folder", str(report))
    ]
    outside.assert_unchanged()


RETRAIN = [
    pytest.param(
        "retrain.manifest",
        lambda w: str(w.outside / "pets" / "manifest.csv"),
        "The cleaned manifest",
        id="manifest-outside",
    ),
    pytest.param(
        "retrain.recipe", lambda w: str(w.outside / "secret.txt"), "The recipe", id="recipe-outside"
    ),
    pytest.param(
        "retrain.out",
        lambda w: str(w.outside / "series2"),
        "The new series folder",
        id="out-outside",
    ),
    pytest.param("retrain.out", lambda w: "/etc/cron.d", "The new series folder", id="out-etc"),
]


@pytest.mark.parametrize(("key", "value", "what"), RETRAIN)
def test_retrain_refuses_paths_outside(world, watch, key, value, what):
    outside = watch(world.outside)
    (world.ws / "exports" / "cleaned").mkdir(parents=True)
    shutil.copy(world.data / "manifest.csv", world.ws / "exports" / "cleaned" / "manifest.csv")
    at = start("retrain")
    at.text_input(key=key).input(value(world)).run()
    assert_no_failure(at)
    assert [i.value for i in at.info] == [world.outside_message(what, value(world))]
    assert not _has_button(at, "retrain.start")
    outside.assert_unchanged()
    assert not (world.ws / "jobs").exists()


def _has_button(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def test_a_failed_job_shows_its_error_without_the_traceback(world):
    import sys

    from workbench import jobs

    job = jobs.start(world.ws, [sys.executable, "-c", "raise RuntimeError('at /secret/x')"])
    assert job.wait(timeout=60) == "failed"
    assert 'File "<string>"' in jobs.read_log(job)  # the server's log keeps everything
    at = start("retrain")
    assert_no_failure(at)
    (log,) = [c.value for c in at.code if "RuntimeError" in c.value]
    assert log == (
        "(traceback omitted here; it is in the job's log file on the server)\n"
        "RuntimeError: at /secret/x"
    )


def test_retrain_keeps_its_whole_number_check(world):
    at = start("retrain")
    at.text_input(key="retrain.manifest").input(str(world.data / "manifest.csv")).run()
    at.text_input(key="retrain.epochs").input("1e20").run()
    assert [i.value for i in at.info] == ["Epochs must be a whole number ≥ 1, not `1e20`."]


# -- uploads on the Search page --------------------------------------------------------------


def test_bad_uploads_on_the_search_page(world, bad_upload, upload_name, upload_message):
    at = start("search")
    at.file_uploader(key="search.upload").upload(upload_name, bad_upload).run()
    assert_no_failure(at)
    errors = [re.sub(r"\(\d+ bytes not processed\)", "(26 bytes not processed)", e.value)
              for e in at.error]  # fmt: skip
    assert errors == [f"This file cannot be searched: {upload_message}"]
    uploads = world.ws / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_a_good_upload_is_searched_and_its_temporary_file_removed(world):
    ds = load_dataset(world.data)
    photo = ds.path(ds.split("query")["image"].iloc[0]).read_bytes()
    at = start("search")
    at.file_uploader(key="search.upload").upload("lost-cat.jpg", photo, "image/jpeg").run()
    assert_no_failure(at)
    assert at.metric and at.metric[0].label.startswith("Best match: post ")
    assert at.get("image")[0].proto.imgs[0].caption == "your photo"
    assert list((world.ws / "uploads").iterdir()) == []  # before: uploads/<sha1>.jpg stayed


def test_the_temporary_upload_is_removed_when_the_page_fails(world, monkeypatch, caplog):
    import explain.lookup

    seen = []

    def broken(member, paths, **kw):
        seen.extend(Path(p) for p in paths)
        assert all(Path(p).exists() for p in paths)
        raise RuntimeError("embedding exploded at /secret/location")

    monkeypatch.setattr(explain.lookup, "embed_photos", broken)
    ds = load_dataset(world.data)
    photo = ds.path(ds.split("query")["image"].iloc[0]).read_bytes()
    at = start("search")
    with caplog.at_level(logging.ERROR, logger="workbench.app"):
        at.file_uploader(key="search.upload").upload("dog.jpg", photo, "image/jpeg").run()
    assert seen and not any(p.exists() for p in seen)
    assert list((world.ws / "uploads").iterdir()) == []
    (error,) = [e.value for e in at.error]
    ref = re.fullmatch(
        r"Unexpected error on the server \(reference `([0-9a-f]{10})`\)\. The details are in "
        r"the server log under this reference; try again, or tell whoever runs the app\.",
        error,
    ).group(1)
    assert "secret" not in error and not at.exception
    (record,) = [r for r in caplog.records if ref in r.getMessage()]
    assert record.getMessage() == f"unexpected error in page Search (reference {ref})"
    assert record.exc_info and "embedding exploded" in str(record.exc_info[1])


def test_an_unexpected_error_in_a_callback_is_a_short_message(world, monkeypatch, caplog):
    def broken(self, *a, **kw):
        raise RuntimeError("disk controller on fire")

    monkeypatch.setattr(TagStore, "set_bucket", broken)
    at = start("triage")
    at.text_input(key="workspace.annotator").input("eve").run()
    with caplog.at_level(logging.ERROR, logger="workbench.app"):
        at.button(key="triage.b.missed").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("Unexpected error on the server (reference `")
    assert "fire" not in error
    (record,) = [r for r in caplog.records if "callback decide" in r.getMessage()]
    assert "disk controller on fire" in str(record.exc_info[1])


# -- exposure and sign-in --------------------------------------------------------------------


@pytest.fixture
def bound_to():
    """Pretend the server was started with ``--server.address ADDRESS``."""
    before = st_config.get_option("server.address")

    def bind(address: str | None) -> None:
        st_config.set_option("server.address", address)

    yield bind
    st_config.set_option("server.address", before)


def test_a_network_bound_app_without_sign_in_shows_nothing(world, bound_to, monkeypatch):
    bound_to("0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert_no_failure(at)
    assert [e.value for e in at.error] == [
        "This app is reachable from the network (server.address is `0.0.0.0`) and nobody has "
        "to sign in, so it shows nothing. Whoever runs it can: serve it on this machine only "
        '(`server.address = "127.0.0.1"`, the default in .streamlit/config.toml); configure '
        "sign-in (`[auth]` in .streamlit/secrets.toml, see the README's Security model); or, "
        f"behind a proxy that authenticates every visitor, set {access.ENV_UNAUTHENTICATED}=1."
    ]
    assert not at.text_input and not at.metric and not at.sidebar.children
    monkeypatch.setenv(access.ENV_UNAUTHENTICATED, "1")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert at.warning[0].value.startswith("Reachable from the network without sign-in")
    assert at.text_input(key="workspace.data").value == str(world.data)


def test_with_sign_in_configured_a_visitor_sees_only_the_login_button(world):
    at = AppTest.from_file(APP, default_timeout=180)
    at.user = {"is_logged_in": False}
    at.run()
    assert_no_failure(at)
    assert [b.label for b in at.button] == ["Log in"]
    assert [i.value for i in at.info] == ["Sign in to use the workbench."]
    assert not at.text_input and not at.metric and not at.error


def test_the_signed_in_user_is_the_annotator(world, tmp_path):
    at = AppTest.from_file(APP, default_timeout=180)
    at.user = {"is_logged_in": True, "email": "ann@example.org", "name": "Ann"}
    at.session_state["workspace.annotator"] = "mallory"  # a forged name changes nothing
    at.run()
    assert_no_failure(at)
    assert not any(t.key == "workspace.annotator" for t in at.text_input)
    assert any(c.value.startswith("Signed in as **ann@example.org**") for c in at.caption)
    at.switch_page("app_pages/triage.py")
    at.run()
    at.button(key="triage.b.spurious").click().run()
    assert_no_failure(at)
    state = TagStore(world.ws / "tags.sqlite").current()
    assert state["annotator"].tolist() == ["ann@example.org"]
