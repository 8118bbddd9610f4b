"""The real server: ``streamlit run app.py`` as ``make run`` starts it.

- it listens on loopback only with the shipped .streamlit/config.toml (read from
  /proc/net/tcp and tcp6: no packet is sent to any other address);
- a hostile path typed in the sidebar of a real browser is refused, and nothing appears;
- with ``[auth]`` configured, a real OpenID Connect provider (``oidc-provider-mock``, run on
  localhost) signs the visitor in, and the tags carry the signed-in email.
Skips with the reason when Chromium, Playwright or the provider is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from curation.store import TagStore
from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, streamlit_server
from tests.test_browser import idle, no_exception

pytestmark = pytest.mark.browser


def listening(port: int) -> list[tuple[str, str]]:
    """(table, local address in hex) of every socket in LISTEN state on ``port``."""
    found = []
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.append((table, address))
    return found


LOOPBACK = {("tcp", "0100007F"), ("tcp6", "00000000000000000000000001000000")}


def _env(app_world, ws: Path) -> dict[str, str]:
    return {
        "WORKBENCH_DATA": str(app_world["data"]),
        "WORKBENCH_CHECKPOINTS": str(app_world["series"]),
        "WORKBENCH_STORE": str(ws / "tags.sqlite"),
        "WORKBENCH_CACHE": str(app_world["base"] / "cache"),
        "WORKBENCH_WORKSPACE": str(ws),
        "WORKBENCH_THREADS": "1",
    }


def test_the_server_listens_on_loopback_only(app_world, tmp_path):
    """Before: no address in config.toml, so Streamlit bound "::" (every interface)."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system: cannot read the listening sockets")
    port = free_port()
    with streamlit_server(_env(app_world, tmp_path / "ws"), tmp_path / "log.txt", address=None,
                          port=port):  # fmt: skip
        sockets = listening(port)
    assert sockets, f"nothing listens on port {port}"
    assert set(sockets) <= LOOPBACK, sockets


def test_a_hostile_path_typed_in_the_browser_is_refused(app_world, tmp_path, watch):
    require_chromium()
    from playwright.sync_api import sync_playwright

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    watched = watch(outside)
    ws = tmp_path / "ws"
    with (
        streamlit_server(_env(app_world, ws), tmp_path / "log.txt", address=None) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_role("heading", name="Re-ID workbench").wait_for(timeout=120_000)
        idle(page)
        for label, value, what in (
            ("Dataset folder or manifest", "/etc", "The dataset /etc"),
            ("Tag store (SQLite file or database URL)", f"{outside}/new/tags.sqlite",
             f"The tag store {outside}/new/tags.sqlite"),
        ):  # fmt: skip
            field = page.get_by_role("textbox", name=label)
            field.fill(value)
            field.press("Enter")
            idle(page)
            alert = page.locator("[data-testid='stAlert']", has_text=f"{what} is outside the "
                                 "folders this app may use")  # fmt: skip
            alert.first.wait_for(timeout=30_000)
            no_exception(page, label)
        page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
        body = page.locator("body").inner_text()
        browser.close()
    assert "passwd" not in body and "Traceback" not in body
    watched.assert_unchanged()


def test_sign_in_through_a_real_oidc_provider(app_world, tmp_path):
    require_chromium()
    provider = pytest.importorskip(
        "oidc_provider_mock", reason="oidc-provider-mock is not installed: pip install -e '.[dev]'"
    )
    pytest.importorskip("authlib", reason="Authlib is not installed: pip install -e .")
    from playwright.sync_api import sync_playwright

    port = free_port()
    ws = tmp_path / "ws"
    user = provider.User(sub="alice", claims={"email": "alice@example.org", "name": "Alice"})
    with provider.run_server_in_thread(user_claims=[user]) as idp:
        issuer = f"http://localhost:{idp.server_port}"
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a test secret that is long enough"\n'
            'client_id = "workbench"\n'
            'client_secret = "any"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
        )
        with (
            streamlit_server(_env(app_world, ws), tmp_path / "log.txt", address=None, port=port,
                             args=("--secrets.files", str(secrets))) as url,
            sync_playwright() as p,
        ):  # fmt: skip
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.goto(f"{url}/triage")  # a page's address before sign-in shows only the login
            page.get_by_text("Sign in to use the workbench.").wait_for(timeout=120_000)
            idle(page)
            assert page.get_by_role("textbox", name="Dataset folder or manifest").count() == 0
            assert page.get_by_role("link", name="Triage").count() == 0
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{issuer}/**", timeout=30_000)
            page.get_by_role("button", name="alice").click()  # the provider's consent form
            page.get_by_text("Signed in as").wait_for(timeout=120_000)
            idle(page)
            assert "alice@example.org" in page.locator("[data-testid='stSidebar']").inner_text()
            assert page.get_by_role("textbox", name="Annotator").count() == 0
            page.get_by_role("link", name="Triage").first.click()
            page.get_by_text("queries reviewed").wait_for(timeout=120_000)
            idle(page)
            shown = page.locator("code").first.inner_text()
            page.get_by_role("heading", name="Triage").click()  # focus off any field
            page.keyboard.press("2")  # missed
            page.get_by_text("Saved:").first.wait_for(timeout=30_000)
            no_exception(page, "Triage")
            page.get_by_role("button", name="Log out").click()
            page.wait_for_url(f"{issuer}/**", timeout=30_000)  # the provider ends its session
            page.get_by_role("button", name="End session").click()
            page.get_by_text("Sign in to use the workbench.").wait_for(timeout=60_000)
            browser.close()
    deadline = time.monotonic() + 10
    while not (ws / "tags.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    state = TagStore(ws / "tags.sqlite").current().set_index("image")
    assert state.at[shown, "bucket"] == "missed"
    assert state.at[shown, "annotator"] == "alice@example.org"
