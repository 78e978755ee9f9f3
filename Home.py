"""LMSpace dashboard entry point: declares the pages and runs the selected one (nothing heavy happens here)."""

import streamlit as st

st.set_page_config(page_title="LMSpace", page_icon=":material/hub:", layout="wide")

navigation = st.navigation(
    [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/spaces.py", title="Spaces", icon=":material/folder_open:"),
        st.Page("views/upload.py", title="Upload", icon=":material/upload:"),
        st.Page("views/chat.py", title="Chat", icon=":material/chat:"),
        st.Page("views/research.py", title="Research", icon=":material/travel_explore:"),
        st.Page("views/sync_jobs.py", title="Sync Jobs", icon=":material/sync:"),
        st.Page("views/settings.py", title="Settings", icon=":material/settings:"),
    ]
)
navigation.run()
