"""The app's pages (one file each) and what they share (:mod:`pages.ui`, :mod:`pages.widgets`).

Streamlit treats a folder named ``pages/`` beside the entry point as an old-style multipage app
until ``st.navigation`` has run once in the server process; until then a first visit straight to
a page's address would run that page alone, without ``app.py``'s workspace. Importing this
package switches to ``st.navigation`` and starts such a run again.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.rerun()
