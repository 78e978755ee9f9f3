"""spaces page (being built)."""

import streamlit as st

st.title("Spaces")
