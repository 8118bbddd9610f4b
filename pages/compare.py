import streamlit as st

from pages import ui

ui.through_app()
st.title("compare")
