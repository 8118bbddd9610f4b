import streamlit as st

st.title("curate")
