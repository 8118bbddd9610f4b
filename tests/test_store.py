"""Tag store: events, current state, undo, validation, migrations, concurrency, PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from curation import migrations
from curation.dataset import load_dataset
from curation.store import DEFAULT_VOCABULARY, StoreError, TagStore
from workbench.cli import main

Q = "query/201_1.jpg"


@pytest.fixture
def store(tmp_path: Path) -> TagStore:
    s = TagStore(tmp_path / "tags.sqlite")
    yield s
    s.close()


def test_new_store_is_wal_sqlite_with_default_vocabulary(tmp_path):
    s = TagStore(tmp_path / "ws" / "tags.sqlite")
    assert s.vocabulary() == list(DEFAULT_VOCABULARY)
    assert s.schema_version() == migrations.LATEST
    s.close()
    con = sqlite3.connect(tmp_path / "ws" / "tags.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_current_folds_latest_decisions(store):
    store.set_bucket(Q, "missed", "ann", model="baseline", epoch=12, suggested="missed")
    store.set_artifacts(
        Q, ["tongue", "glare"], "ann",
        regions=[{"artifact": "glare", "kind": "box", "points": [[9, 9], [1, 2]]}],
    )  # fmt: skip
    store.set_bucket(Q, "spurious", "bob", note="matched on the hand")
    store.set_bucket("query/202_1.jpg", "worked", "bob")
    cur = store.current()
    assert list(cur["image"]) == [Q, "query/202_1.jpg"]
    row = cur.iloc[0]
    assert row["bucket"] == "spurious" and row["suggested"] is None
    assert row["artifacts"] == "glare;tongue"
    assert row["regions"] == [{"artifact": "glare", "kind": "box", "points": [[1, 2], [9, 9]]}]
    assert row["note"] == "matched on the hand"
    assert row["annotator"] == "bob" and row["events"] == 3
    assert row["model"] == "baseline" and row["epoch"] == 12  # the last event naming a model
    assert str(row["time"].tz) == "UTC"
    assert list(store.current(annotator="ann")["bucket"]) == ["missed"]


def test_history_is_append_only_and_marks_undone(store):
    store.set_bucket(Q, "missed", "ann")
    store.set_bucket(Q, "worked", "ann")
    store.undo("ann")
    hist = store.history(Q)
    assert list(hist["action"]) == ["bucket", "bucket", "undo"]
    assert list(hist["undone"]) == [False, True, False]
    assert hist["undoes"].iloc[2] == hist["id"].iloc[1]
    assert store.count() == 3


def test_undo_walks_back_only_own_actions(store):
    store.set_bucket(Q, "missed", "ann")
    store.set_bucket(Q, "spurious", "bob")
    store.set_artifacts(Q, ["tongue"], "ann")
    undone = store.undo("ann")
    assert undone["action"] == "artifacts" and undone["artifacts"] == ["tongue"]
    row = store.current().iloc[0]
    assert row["artifacts"] == "" and row["bucket"] == "spurious"
    assert store.undo("ann")["bucket"] == "missed"
    assert store.current().iloc[0]["bucket"] == "spurious"  # bob's decision untouched
    assert store.undo("ann") is None
    store.undo("bob")
    assert store.current().empty


def test_flags_and_post_flags(store):
    store.flag_post("301", ["multiple-animals"], "ann", note="two cats")
    store.flag_post("302", "exclude", "ann")
    store.flag_post("302", [], "bob")  # cleared
    store.flag_image(Q, "exclude", "ann")
    posts = store.post_flags()
    assert list(posts["post_id"]) == ["301", "302"]
    assert list(posts["flags"]) == ["multiple-animals", ""]
    assert posts["note"].iloc[0] == "two cats"
    assert store.current().iloc[0]["flags"] == "exclude"


def test_snapshot_hash_changes_with_state_only(store):
    store.set_bucket(Q, "missed", "ann")
    h1 = store.snapshot_sha256()
    assert h1 == store.snapshot_sha256()
    store.set_bucket(Q, "worked", "ann")
    assert store.snapshot_sha256() != h1
    store.undo("ann")
    assert store.snapshot_sha256() == h1


def test_vocabulary_is_configurable(tmp_path):
    s = TagStore(tmp_path / "v.sqlite", vocabulary=["tongue", "leash"])
    assert s.vocabulary() == ["tongue", "leash"]
    assert s.add_tag("collar", "ann") is True
    assert s.add_tag("collar", "ann") is False
    s.set_artifacts(Q, ["collar"], "ann")
    s.remove_tag("collar")
    with pytest.raises(StoreError, match="unknown artifact tag"):
        s.set_artifacts(Q, ["collar"], "ann")
    assert s.current().iloc[0]["artifacts"] == "collar"  # stored events keep the tag
    with pytest.raises(StoreError, match="invalid tag name"):
        s.add_tag("Tongue Out", "ann")
    with pytest.raises(StoreError, match="not in the vocabulary"):
        s.remove_tag("nope")
    s.close()
    again = TagStore(tmp_path / "v.sqlite", vocabulary=["grass"])  # adds what is missing
    assert again.vocabulary() == ["tongue", "leash", "grass"]
    again.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"artifacts": ["tongue", "unicorn"]}, "unknown artifact tag.*unicorn"),
        ({"artifacts": "tongue"}, "list of tags"),
        (
            {"artifacts": ["glare"], "regions": [{"artifact": "glare", "kind": "box",
                                                   "points": [[1, 1]]}]},
            "two corner points",
        ),
        (
            {"artifacts": ["glare"], "regions": [{"artifact": "glare", "kind": "circle",
                                                   "points": [[1, 1], [2, 2]]}]},
            "'box' or 'polygon'",
        ),
        (
            {"artifacts": ["glare"], "regions": [{"artifact": "glare", "kind": "polygon",
                                                   "points": [[0, 0], [1, 1], [2, 2]]}]},
            "zero area",
        ),
        (
            {"artifacts": ["glare"], "regions": [{"artifact": "hands", "kind": "box",
                                                   "points": [[0, 0], [3, 3]]}]},
            "does not contain it",
        ),
        ({"artifacts": ["glare"], "regions": "[not json"}, "not valid JSON"),
    ],
)  # fmt: skip
def test_bad_artifact_events_are_rejected(store, kwargs, message):
    with pytest.raises(StoreError, match=message):
        store.set_artifacts(Q, annotator="ann", **kwargs)
    assert store.count() == 0


def test_bad_events_are_rejected(store):
    with pytest.raises(StoreError, match="unknown bucket 'lost'.*worked, missed, spurious"):
        store.set_bucket(Q, "lost", "ann")
    with pytest.raises(StoreError, match="annotator"):
        store.set_bucket(Q, "worked", "  ")
    with pytest.raises(StoreError, match="unknown flag"):
        store.flag_post("1", ["twins"], "ann")
    with pytest.raises(StoreError, match="epoch"):
        store.set_bucket(Q, "worked", "ann", epoch=-3)
    with pytest.raises(StoreError, match="suggested"):
        store.set_bucket(Q, "worked", "ann", suggested="great")
    with pytest.raises(StoreError, match="file path"):
        TagStore(":memory:")
    assert store.count() == 0


def test_dataset_checks_ids_and_region_bounds(tree, tmp_path):
    ds = load_dataset(tree)
    s = TagStore(tmp_path / "t.sqlite", dataset=ds)
    with pytest.raises(StoreError, match=r"unknown image 'query/201_9.jpg'.*did you mean"):
        s.set_bucket("query/201_9.jpg", "worked", "ann")
    with pytest.raises(StoreError, match="unknown post '999'"):
        s.flag_post("999", "exclude", "ann")
    outside = [{"artifact": "glare", "kind": "box", "points": [[0, 0], [33, 10]]}]
    with pytest.raises(StoreError, match=r"outside the 32×64 image"):
        s.set_artifacts(Q, ["glare"], "ann", regions=outside)
    inside = [{"artifact": "glare", "kind": "box", "points": [[0, 0], [32, 64]]}]
    s.set_artifacts(Q, ["glare"], "ann", regions=inside)
    s.flag_post("101", "multiple-animals", "ann")
    assert s.count() == 2
    s.close()


def _v1_database(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrations.upgrade(conn, target=1)
        conn.exec_driver_sql(
            "INSERT INTO events (ts, annotator, target_kind, target, action, bucket) "
            f"VALUES ('2024-01-01T00:00:00+00:00', 'old', 'image', '{Q}', 'bucket', 'missed')"
        )
    engine.dispose()


def test_old_schema_is_migrated_on_open(tmp_path):
    path = tmp_path / "old.sqlite"
    _v1_database(path)
    s = TagStore(path)
    assert s.schema_version() == migrations.LATEST
    assert list(s.current()["bucket"]) == ["missed"]
    s.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    TagStore(path).close()
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO schema_version VALUES (?, 'from the future', '2030-01-01')",
        (migrations.LATEST + 1,),
    )
    con.commit()
    con.close()
    with pytest.raises(migrations.SchemaError, match="upgrade the workbench"):
        TagStore(path)


# -- concurrency -------------------------------------------------------------------------------

N_PROCS, N_EVENTS = 16, 120


def _tag_worker(path: str, worker: int, n: int, barrier) -> None:
    barrier.wait()  # all sixteen open (and race to create) the store at once
    s = TagStore(path)
    for i in range(n):
        image = f"query/{i % 7}_1.jpg"
        if i % 3 == 0:
            s.set_artifacts(image, ["tongue"], f"w{worker}", note=f"{worker}:{i}")
        else:
            s.set_bucket(image, "worked" if i % 2 else "missed", f"w{worker}", note=f"{worker}:{i}")
    s.close()


@pytest.mark.slow
def test_sixteen_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_PROCS)
    procs = [
        ctx.Process(target=_tag_worker, args=(path, w, N_EVENTS, barrier)) for w in range(N_PROCS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * N_PROCS, "a worker failed (see its stderr)"
    s = TagStore(path)
    hist = s.history()
    assert len(hist) == N_PROCS * N_EVENTS
    assert sorted(hist["note"]) == sorted(
        f"{w}:{i}" for w in range(N_PROCS) for i in range(N_EVENTS)
    )
    assert hist["id"].is_unique
    s.close()
    con = sqlite3.connect(path)  # the schema was created exactly once
    versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, migrations.LATEST + 1))
    assert con.execute("SELECT COUNT(*) FROM vocabulary").fetchone()[0] == len(DEFAULT_VOCABULARY)
    con.close()


# -- PostgreSQL --------------------------------------------------------------------------------

PG_URL = os.environ.get("WORKBENCH_TEST_POSTGRES")


@pytest.fixture
def pg_url():
    if not PG_URL:
        pytest.skip("WORKBENCH_TEST_POSTGRES is not set (no PostgreSQL server; .ci/run starts one)")
    import psycopg

    schema = f"wb_test_{uuid.uuid4().hex[:12]}"
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def _pg_worker(url: str, worker: int, n: int, barrier) -> None:
    s = TagStore(url)
    barrier.wait()
    for i in range(n):
        s.set_bucket(f"query/{i}_1.jpg", "worked", f"w{worker}", note=f"{worker}:{i}")
    s.undo(f"w{worker}")
    s.close()


def test_postgresql_store(pg_url):
    s = TagStore(pg_url)
    assert s.dialect == "postgresql"
    assert s.vocabulary() == list(DEFAULT_VOCABULARY)
    s.set_bucket(Q, "missed", "ann", model="baseline", epoch=60)
    s.set_artifacts(
        Q, ["hands"], "ann",
        regions=[{"artifact": "hands", "kind": "polygon", "points": [[0, 0], [4, 0], [0, 4]]}],
    )  # fmt: skip
    s.set_bucket(Q, "spurious", "bob")
    assert s.undo("bob")["bucket"] == "spurious"
    row = s.current().iloc[0]
    assert (row["bucket"], row["artifacts"], row["epoch"]) == ("missed", "hands", 60)
    s.close()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_pg_worker, args=(pg_url, w, 50, barrier)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4
    s = TagStore(pg_url)
    hist = s.history()
    assert len(hist) == 4 + 4 * 51  # 4 earlier events, then 50 buckets + 1 undo per worker
    assert int(hist["undone"].sum()) == 1 + 4
    s.close()


# -- command line ------------------------------------------------------------------------------


def test_tags_cli_round_trip(tree, tmp_path):
    db = str(tmp_path / "cli.sqlite")
    run = CliRunner().invoke
    base = ["tags", "--store", db, "--annotator", "ann", "--data", str(tree)]
    r = run(main, [*base, "bucket", Q, "missed", "--model", "baseline", "--epoch", "12"])
    assert r.exit_code == 0, r.output
    r = run(main, [*base, "artifacts", Q, "tongue,glare", "--region", "glare:box:1,1,5,5"])
    assert r.exit_code == 0, r.output
    r = run(main, [*base, "flag", "101", "multiple-animals"])
    assert r.exit_code == 0, r.output
    r = run(main, [*base, "list", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "query/201_1.jpg,missed" in r.output and "glare;tongue" in r.output
    r = run(main, [*base, "artifacts", Q, "unicorn"])
    assert r.exit_code != 0 and "unknown artifact tag(s) unicorn" in r.output
    r = run(main, [*base, "bucket", "query/nope.jpg", "worked"])
    assert r.exit_code != 0 and "unknown image" in r.output
    r = run(main, [*base, "artifacts", Q, "glare", "--region", "glare:box:1,1"])
    assert r.exit_code != 0 and "two corner points" in r.output
    r = run(main, [*base, "undo"])
    assert r.exit_code == 0 and "undid flags on post 101" in r.output
    r = run(main, [*base, "history", Q])
    assert r.exit_code == 0 and r.output.count("ann") >= 2
    out = tmp_path / "tags.csv"
    r = run(main, [*base, "export", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().splitlines()[1].startswith("query/201_1.jpg,missed,")
    r = run(main, ["tags", "--store", db, "vocab"])
    assert r.exit_code == 0 and "text-overlay" in r.output
