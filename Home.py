"""LMSpace dashboard entry point: declares the pages and runs the selected one (nothing heavy happens here)."""

from pathlib import Path

import streamlit as st

import lmspace_ui
from lmspace_ui.components import offline_banner

# A file shipped with the package: a `:material/...` page icon makes every page fetch its favicon from a font host.
ICON = Path(lmspace_ui.__file__).parent / "static" / "lmspace.png"

st.set_page_config(page_title="LMSpace", page_icon=str(ICON), layout="wide")

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
offline_banner()
navigation.run()
