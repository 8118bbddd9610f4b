"""Who can reach the app: the exposure modes, the shipped server config, a network-bound app
without sign-in, the login button, the signed-in user as annotator."""

from __future__ import annotations

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from curation.store import TagStore
from tests.adversarial.app_inputs import (
    APP,
    assert_no_failure,
)
from tests.adversarial.conftest import ROOT
from workbench import access

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


# -- exposure and sign-in --------------------------------------------------------------------


@pytest.fixture
def bound_to():
    """Pretend the server was started with ``--server.address ADDRESS``."""
    before = st_config.get_option("server.address")

    def bind(address: str | None) -> None:
        st_config.set_option("server.address", address)

    yield bind
    st_config.set_option("server.address", before)


def test_a_network_bound_app_without_sign_in_shows_nothing(hostile_world, bound_to, monkeypatch):
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
    assert at.text_input(key="workspace.data").value == str(hostile_world.data)


def test_with_sign_in_configured_a_visitor_sees_only_the_login_button(hostile_world):
    at = AppTest.from_file(APP, default_timeout=180)
    at.user = {"is_logged_in": False}
    at.run()
    assert_no_failure(at)
    assert [b.label for b in at.button] == ["Log in"]
    assert [i.value for i in at.info] == ["Sign in to use the workbench."]
    assert not at.text_input and not at.metric and not at.error


def test_the_signed_in_user_is_the_annotator(hostile_world, tmp_path):
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
    state = TagStore(hostile_world.ws / "tags.sqlite").current()
    assert state["annotator"].tolist() == ["ann@example.org"]
