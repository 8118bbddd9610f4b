"""Hostile sidebar values on every page (AppTest through app.py): the exact message each page
shows, and nothing written outside the allowed folders (:class:`TreeWatch`)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from curation.store import TagStore
from tests.adversarial.app_inputs import (
    assert_no_failure,
    shown,
    start,
    store_refused_message,
)

SIDEBAR = [
    # (key, value from the hostile_world, page, expected message (None: outside message), resolved)
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
        lambda w: store_refused_message("`nosuch://x/y`", w.ws),
        id="store-unknown-scheme",
    ),
    pytest.param(
        "workspace.store",
        lambda w: "postgresql+psycopg://u:pw@127.0.0.1:9/db",
        "triage",
        lambda w: store_refused_message("`postgresql+psycopg://u:***@127.0.0.1:9/db`", w.ws),
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
def test_hostile_sidebar_values_get_a_message(
    hostile_world, watch, request, key, value, page, expected
):
    outside, evil = watch(hostile_world.outside), watch(hostile_world.evil)
    raw = value(hostile_world)
    at = start(page, **{key: raw})
    assert_no_failure(at)
    case = request.node.callspec.id
    if expected is None:
        resolved = RESOLVES.get(case, lambda w: None)(hostile_world)
        want = hostile_world.outside_message(WHAT[key], raw, resolved)
    else:
        want = expected(hostile_world)
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
def test_every_page_with_a_bad_value_shows_a_message(hostile_world, key, value):
    """The pages that read the value say why they cannot use it; none shows a traceback."""
    at = start(**{key: value(hostile_world)})
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert_no_failure(at)
        assert at.title, page
        assert bool(at.error) == (page in NEEDS[key]), (page, shown(at))


def _nothing() -> None:
    """A child process's whole work."""


def test_a_process_spawned_after_an_app_run_starts(hostile_world):
    """AppTest leaves app.py as ``__main__``; a spawned child (the store's concurrency test
    uses them) runs it again outside any Streamlit runtime, where it must do nothing."""
    import multiprocessing as mp

    assert_no_failure(start())
    child = mp.get_context("spawn").Process(target=_nothing)
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0


def test_a_refused_database_url_reads_the_same_whatever_listens(hostile_world):
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
        == [store_refused_message("`postgresql+psycopg://u@127.0.0.1:PORT/db`", hostile_world.ws)]
    )


def test_the_configured_store_url_is_shown_without_its_password(hostile_world, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STORE", "postgresql+psycopg://team:s3cret@127.0.0.1:9/tags")
    at = start()
    assert at.text_input(key="workspace.store").value == (
        "postgresql+psycopg://team:***@127.0.0.1:9/tags"
    )
    assert not any("s3cret" in v for v in shown(at))


@pytest.fixture
def read_only_store(hostile_world) -> Path:
    """A tag store the app cannot write: mode 0444, and immutable (chattr +i) for root."""
    path = hostile_world.allowed / "ro.sqlite"
    TagStore(path).close()
    files = sorted(hostile_world.allowed.glob("ro.sqlite*"))
    for f in files:
        f.chmod(0o444)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"root ignores file modes and chattr failed: {done.stderr!r}")
    yield path
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


def test_a_read_only_store_says_not_saved_instead_of_a_traceback(hostile_world, read_only_store):
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
