"""LMSpace dashboard entry point: declares the pages and runs the selected one (nothing heavy happens here)."""

import streamlit as st

st.set_page_config(page_title="LMSpace", page_icon=":material/hub:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/spaces.py", title="Spaces", icon=":material/folder_open:"),
        st.Page("pages/upload.py", title="Upload", icon=":material/upload:"),
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:"),
        st.Page("pages/research.py", title="Research", icon=":material/travel_explore:"),
        st.Page("pages/sync_jobs.py", title="Sync Jobs", icon=":material/sync:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]
)
navigation.run()
