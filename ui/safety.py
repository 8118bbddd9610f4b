"""Who may use the app, and what a visitor sees when something fails.

- Sign-in: Streamlit's ``st.login`` (OIDC) when ``[auth]`` is configured in
  .streamlit/secrets.toml; the annotator is then the signed-in user, not a free-text name.
- Exposure: an app reachable from the network without sign-in shows nothing but how to fix
  that (:func:`workbench.access.exposure`).
- Failures: an unexpected exception in a page, fragment or widget callback is logged with a
  reference id (``logging.exception``; the server log has the traceback) and the browser gets
  a one-line error with that reference.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit import config as st_config
from streamlit import runtime

from workbench import access

K_FAILURE = "app.failure"  # reference of an unexpected error in a widget callback
K_LOGIN = "auth.login"
K_LOGOUT = "auth.logout"

LOG = logging.getLogger("workbench.app")
if not LOG.handlers and not logging.getLogger().handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOG.addHandler(_handler)


def auth_configured() -> bool:
    """Whether sign-in (``[auth]`` in .streamlit/secrets.toml) is configured: ``st.user`` then
    always carries ``is_logged_in``."""
    return "is_logged_in" in st.user


def signed_in_user() -> str | None:
    """The signed-in user's email (else name, else subject) when login is configured and the
    visitor signed in; None otherwise."""
    if not auth_configured() or not st.user.get("is_logged_in"):
        return None
    for claim in ("email", "name", "sub"):
        value = st.user.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def served() -> bool:
    """Whether this run is served by Streamlit (``streamlit run`` or AppTest), not a bare
    ``python app.py`` or a multiprocessing child re-running the main module, where nothing is
    shown to anyone."""
    return runtime.exists()


def gate() -> bool:
    """Whether this visitor may use the app; otherwise show why (sign in, or the server is
    exposed without login) and return False. See :func:`workbench.access.exposure`.

    Outside a Streamlit runtime (``python app.py``, or a multiprocessing child re-running the
    main module) nothing is served, so there is nothing to gate."""
    if not served():
        return True
    address = st.get_option("server.address")
    if not address and st_config.get_option("global.appTest"):
        address = "127.0.0.1"  # an AppTest run has no server: nothing listens anywhere
    mode = access.exposure(address, auth=auth_configured())
    if mode == "refused":
        st.title("Re-ID workbench")
        st.error(
            f"This app is reachable from the network (server.address is "
            f"`{address or 'unset: every interface'}`) and nobody has to sign in, so it shows "
            "nothing. Whoever runs it can: serve it on this machine only "
            '(`server.address = "127.0.0.1"`, the default in .streamlit/config.toml); '
            "configure sign-in (`[auth]` in .streamlit/secrets.toml, see the README's "
            "Security model); or, behind a proxy that authenticates every visitor, set "
            f"{access.ENV_UNAUTHENTICATED}=1."
        )
        return False
    if mode == "open":
        st.warning(
            f"Reachable from the network without sign-in ({access.ENV_UNAUTHENTICATED}=1): "
            "only safe behind a proxy that authenticates every visitor."
        )
    if mode == "authenticated" and not st.user.get("is_logged_in"):
        st.title("Re-ID workbench")
        st.info("Sign in to use the workbench.")
        if st.button("Log in", key=K_LOGIN, type="primary"):
            st.login()
        return False
    return True


def closed() -> None:
    """The only page before sign-in: what :func:`gate` showed, nothing more."""


def account_box(annotator_key: str, default: str = "") -> None:
    """In the sidebar: who is signed in and a logout button, or the free-text annotator name
    (starting at ``default``)."""
    who = signed_in_user()
    if who is None:
        if annotator_key not in st.session_state:  # a name from the address is kept
            st.session_state[annotator_key] = default
        st.text_input(
            "Annotator", key=annotator_key, placeholder="your name (for tags)",
            help="Kept in the address (?annotator=): a bookmarked or reloaded page keeps it.",
        )  # fmt: skip
        return
    if who:
        st.caption(f"Signed in as **{who}** (tags are recorded under this name)")
    else:
        st.warning(
            "Signed in, but the identity provider sent no email or name: tags cannot be "
            "recorded. Ask whoever runs the app to request the `email` scope."
        )
    if st.button("Log out", key=K_LOGOUT):
        st.logout()


def _reference(where: str | Callable[[], str]) -> str:
    """Log the exception being handled with a new reference id; return the id. ``where``
    names the place (a callable is only called then)."""
    ref = uuid.uuid4().hex[:10]
    LOG.exception("unexpected error in %s (reference %s)", where() if callable(where) else where,
                  ref)  # fmt: skip
    return ref


def failure_message(ref: str) -> str:
    return (
        f"Unexpected error on the server (reference `{ref}`). The details are in the server "
        "log under this reference; try again, or tell whoever runs the app."
    )


@contextmanager
def guarded(where: str | Callable[[], str]) -> Iterator[None]:
    """Run a page (or fragment): an unexpected exception is logged with a reference and shown
    as a short error; st.stop and st.rerun pass through (they are not Exceptions)."""
    try:
        yield
    except Exception:
        st.error(failure_message(_reference(where)))


def callback(fn: Callable) -> Callable:
    """A widget callback whose unexpected exception is logged with a reference and shown on
    the next run (:func:`show_callback_failure`), instead of a traceback."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            st.session_state[K_FAILURE] = _reference(f"callback {fn.__name__}")
            return None

    return run


def show_callback_failure() -> None:
    ref = st.session_state.pop(K_FAILURE, None)
    if ref:
        st.error(failure_message(ref))
