"""A tag-store URL in each dialect: a SQLite file under tmp_path, and a fresh schema on the
PostgreSQL server of WORKBENCH_TEST_POSTGRES (skipped when none is set; .ci/run starts one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("WORKBENCH_TEST_POSTGRES")


def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (dropped afterwards)."""
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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> Iterator[str]:
    """The URL of a new, empty tag store, once per dialect."""
    if request.param == "sqlite":
        yield str(tmp_path / "tags.sqlite")
    else:
        yield from pg_schema_url()
