"""The app's server: ``streamlit run serve.py`` (what ``make run`` starts).

Loads the libraries every page needs (torch, torchreid, pandas, the project's modules) once, at
server start and before the first visitor connects, so that the first page a visitor opens
answers in seconds instead of waiting for the imports. The pages themselves are in ``app.py``.
"""

from __future__ import annotations

import importlib
import time
from contextlib import asynccontextmanager

import streamlit as st

PRELOAD = (
    "ui.loaders",
    "ui.compute",
    "explain.models.series",
    "explain.retrieval.series",
    "torchreid",
)


@asynccontextmanager
async def _lifespan(_app):
    t0 = time.perf_counter()
    for name in PRELOAD:
        importlib.import_module(name)
    print(f"libraries loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    yield


app = st.App("app.py", lifespan=_lifespan)
