"""Streamlit pages of the workbench (run through app.py)."""
