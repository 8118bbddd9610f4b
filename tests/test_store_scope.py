"""The tag store is scoped by dataset: keys, moved folders, legacy stores (both dialects)."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import warnings

import pytest
from sqlalchemy import create_engine, text

from curation import migrations
from curation.dataset import load_dataset
from curation.store import StoreError, TagStore
from curation.store_scope import LEGACY, ScopeWarning, identity
from tests.stores import store_url  # noqa: F401  (fixture)

Q = "query/201_1.jpg"


def test_dataset_key_is_name_and_root_hash(tree, tmp_path):
    ds = load_dataset(tree)
    ident = identity(ds)
    assert ident.name == "data" and ident.images == 12
    assert ident.key.startswith("data@") and len(ident.key) == len("data@") + 12
    copy = tmp_path / "elsewhere" / "data"
    shutil.copytree(tree, copy)
    other = identity(load_dataset(copy))
    assert other.name == ident.name and other.fingerprint == ident.fingerprint
    assert other.key != ident.key  # same name and files, another root: another dataset
    assert identity("pets@abc").key == "pets@abc"
    with pytest.raises(StoreError, match="invalid dataset key"):
        identity("../x y")
    with pytest.raises(StoreError, match="invalid dataset key"):
        identity(LEGACY)


def test_same_paths_in_two_datasets_never_mix(store_url, tree, tmp_path):  # noqa: F811
    copy = tmp_path / "second" / "data"
    shutil.copytree(tree, copy)
    a = TagStore(store_url, dataset=load_dataset(tree))
    b = TagStore(store_url, dataset=load_dataset(copy))
    a.set_bucket(Q, "missed", "ann")
    b.set_bucket(Q, "worked", "ann")
    b.set_artifacts(Q, ["tongue"], "ann")
    assert list(a.current()["bucket"]) == ["missed"]
    assert list(b.current()["bucket"]) == ["worked"]
    assert (a.count(), b.count()) == (1, 2)
    assert b.undo("ann")["action"] == "artifacts"
    assert b.undo("ann")["bucket"] == "worked"
    assert b.undo("ann") is None  # ann's event on the first dataset is not b's to undo
    assert list(a.current()["bucket"]) == ["missed"]
    assert set(a.datasets()["key"]) == {a.dataset_key, b.dataset_key}
    a.close()
    b.close()


def test_moved_folder_keeps_its_tags_a_copy_does_not(store_url, tree, tmp_path):  # noqa: F811
    with TagStore(store_url, dataset=load_dataset(tree)) as s:
        s.set_bucket(Q, "spurious", "ann")
        old_key = s.dataset_key
    copy = tmp_path / "copy" / "data"
    shutil.copytree(tree, copy)  # the original still exists: a new dataset
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with TagStore(store_url, dataset=load_dataset(copy)) as s:
            assert s.current().empty
    moved = tmp_path / "moved" / "data"
    moved.parent.mkdir()
    shutil.move(str(tree), str(moved))
    # the copy (same name and files) still exists: only the vanished original can have moved
    with pytest.warns(ScopeWarning, match="was moved from"):
        s = TagStore(store_url, dataset=load_dataset(moved))
    assert list(s.current()["bucket"]) == ["spurious"]
    assert s.dataset_key == old_key  # it writes where its tags are
    s.set_bucket(Q, "worked", "bob")
    s.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second open after the move says nothing
        with TagStore(store_url, dataset=load_dataset(moved)) as s:
            assert list(s.current()["bucket"]) == ["worked"]


def _v2_store(url: str) -> None:
    """A store as schema 2 wrote it: no dataset column, one event."""
    engine = create_engine(f"sqlite:///{url}" if "://" not in url else url)
    with engine.begin() as conn:
        migrations.upgrade(conn, target=2)
        conn.execute(
            text(
                "INSERT INTO events (ts, annotator, target_kind, target, action, bucket) "
                "VALUES ('2024-01-01T00:00:00+00:00', 'old', 'image', :q, 'bucket', 'missed')"
            ),
            {"q": Q},
        )
    engine.dispose()


def test_previous_schema_is_adopted_by_the_first_dataset(store_url, tree, tmp_path):  # noqa: F811
    _v2_store(store_url)
    with TagStore(store_url) as plain:  # no dataset: the legacy events, nothing adopted
        assert plain.schema_version() == migrations.LATEST == 3
        assert plain.dataset_key == LEGACY
        assert list(plain.current()["bucket"]) == ["missed"]
    with pytest.warns(ScopeWarning, match=r"1 event\(s\).*now belong to data"):
        first = TagStore(store_url, dataset=load_dataset(tree))
    assert list(first.current()["annotator"]) == ["old"]
    assert len(first.notices) == 1 and "now belong to data" in first.notices[0]
    first.set_bucket(Q, "worked", "new")
    assert first.history(Q)["dataset"].tolist() == [LEGACY, first.dataset_key]
    copy = tmp_path / "second" / "data"
    shutil.copytree(tree, copy)
    with TagStore(store_url) as plain:  # no dataset: the store's one dataset
        assert plain.dataset_key == first.dataset_key
        assert list(plain.current()["bucket"]) == ["worked"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # adopted once: the second dataset gets nothing
            with TagStore(store_url, dataset=load_dataset(copy)) as second:
                assert second.current().empty
        with pytest.raises(StoreError, match=r"holds the tags of 2 datasets.*--data"):
            plain.current()  # the same object looks again: now it cannot tell which
    first.close()


def test_a_store_opened_without_a_dataset_follows_the_one_registered_later(store_url, tree):  # noqa: F811
    plain = TagStore(store_url)  # e.g. a script opened before the app wrote anything
    assert plain.current().empty and plain.dataset_key == LEGACY
    with TagStore(store_url, dataset=load_dataset(tree)) as app:
        app.set_bucket(Q, "missed", "ann")
    assert list(plain.current()["bucket"]) == ["missed"]
    plain.set_bucket(Q, "worked", "bob")  # written under the one dataset, not as legacy
    assert plain.history()["dataset"].nunique() == 1
    plain.close()


def test_a_dataset_key_given_as_text(store_url):  # noqa: F811
    with TagStore(store_url, dataset="pets@one") as a, TagStore(store_url, dataset="pets@two") as b:
        a.set_bucket(Q, "missed", "ann")
        assert b.current().empty and len(a.current()) == 1


def test_a_read_only_store_reads_its_dataset_without_registering_it(tree, tmp_path):
    path = tmp_path / "old.sqlite"
    _v2_store(str(path))
    TagStore(path).close()  # upgraded to schema 3; the legacy event is adopted by no one yet
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with TagStore(read_only, dataset=load_dataset(tree)) as s:
        assert list(s.current()["bucket"]) == ["missed"]  # as adopting would have shown it
        with pytest.raises(StoreError, match="is read-only"):
            s.set_bucket(Q, "worked", "ann")
    with TagStore(path) as s:
        assert s.datasets().empty  # nothing was registered


def _open_worker(url: str, barrier) -> None:
    barrier.wait()  # every process registers the same new dataset at once
    with TagStore(url, dataset="pets@race") as s:
        s.set_bucket(Q, "worked", f"w{os.getpid()}")


def test_processes_registering_one_dataset_at_once_all_succeed(store_url):  # noqa: F811
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_worker, args=(store_url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4, "a worker failed (see its stderr)"
    with TagStore(store_url, dataset="pets@race") as s:
        assert s.count() == 4 and list(s.datasets()["key"]) == ["pets@race"]
