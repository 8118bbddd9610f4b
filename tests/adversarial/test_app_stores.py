"""Tag-store URLs a visitor may name: unconfigured database URLs are refused without a
connection, SQLite URLs obey the path policy, configured ones pass."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import make_url

from tests.adversarial.app_inputs import (
    outside_message_for,
    policy_of,
    store_refused_message,
)
from workbench import access
from workbench.access import AccessError, Policy

# -- store URLs --------------------------------------------------------------------------------


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
def test_unconfigured_database_urls_are_refused(roots_tree, monkeypatch, url, shown):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(roots_tree["allowed"]))
    with pytest.raises(AccessError) as err:
        access.check_store(policy_of(roots_tree), url)
    assert str(err.value) == store_refused_message(shown.format(u=url), roots_tree["allowed"])
    assert "hunter2" not in str(err.value)


def test_a_refused_url_is_never_connected_to(roots_tree):
    """The message cannot depend on what listens there: nothing is even tried."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with pytest.raises(AccessError) as err:
            access.check_store(policy_of(roots_tree), f"postgresql+psycopg://u@127.0.0.1:{port}/db")
        srv.settimeout(0.3)
        with pytest.raises(TimeoutError):
            srv.accept()
    closed = f"postgresql+psycopg://u@127.0.0.1:{port}/db"  # nothing listens there any more
    with pytest.raises(AccessError) as err2:
        access.check_store(policy_of(roots_tree), closed)
    assert str(err.value) == str(err2.value)


SQLITE_URLS = [
    pytest.param("sqlite:///{outside}/t.sqlite", "outside", id="sqlite-url-outside"),
    pytest.param("sqlite:////etc/passwd", "etc", id="sqlite-url-etc"),
    pytest.param("sqlite:///:memory:", "memory", id="in-memory"),
    pytest.param("sqlite:///{allowed}/t.sqlite?mode=ro&uri=true", "options", id="url-options"),
    pytest.param("sqlite://", "memory", id="no-database"),
]


@pytest.mark.parametrize(("url", "kind"), SQLITE_URLS)
def test_sqlite_urls_obey_the_pathpolicy_of(roots_tree, monkeypatch, url, kind):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(roots_tree["allowed"]))
    url = url.format(outside=roots_tree["outside"], allowed=roots_tree["allowed"])
    with pytest.raises(AccessError) as err:
        access.check_store(policy_of(roots_tree), url)
    fix = f"Give a SQLite file such as `{roots_tree['allowed'] / 'tags.sqlite'}`."
    if kind == "outside":
        path = f"{roots_tree['outside']}/t.sqlite"
        assert str(err.value) == outside_message_for("The tag store", path, [roots_tree["allowed"]])
    elif kind == "etc":
        assert str(err.value) == outside_message_for(
            "The tag store", "/etc/passwd", [roots_tree["allowed"]]
        )
    else:
        assert str(err.value).endswith(
            "is not a plain SQLite file (in-memory stores and URL options are refused). " + fix
        )
    assert sorted(p.name for p in roots_tree["outside"].iterdir()) == ["secret.txt"]


def test_allowed_stores(roots_tree):
    configured = "postgresql+psycopg://team:s3cret@db.example:5432/tags"
    policy = Policy(roots=(roots_tree["allowed"],), store_urls=(make_url(configured),))
    assert access.check_store(policy, configured) == configured
    # the sidebar shows the configured URL with its password hidden; that form means it too
    hidden = access.public_store(configured)
    assert hidden == "postgresql+psycopg://team:***@db.example:5432/tags"
    assert access.check_store(policy, hidden) == configured
    with pytest.raises(AccessError):  # another host with the hidden password is not it
        access.check_store(policy, "postgresql+psycopg://team:***@evil.example:5432/tags")
    assert (
        access.check_store(policy, f"{roots_tree['allowed']}/t.sqlite")
        == roots_tree["allowed"] / "t.sqlite"
    )
    assert access.check_store(policy, f"sqlite:///{roots_tree['allowed']}/u.db") == (
        roots_tree["allowed"] / "u.db"
    )
    with pytest.raises(AccessError, match="is a folder, not a file"):
        access.check_store(policy, str(roots_tree["allowed"]))
    assert access.public_store("postgresql://[::1") == "(a database URL that cannot be read)"
