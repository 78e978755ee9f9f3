"""The dashboard's pages and the frame each of them draws first: page settings, the app's own menu, the offline banner.

Why every page draws it, and not Home.py alone: Streamlit (1.67) treats a `pages/` folder beside the entry file as
a legacy multipage app until some script run has called `st.navigation`. On a fresh server, a first visit to a deep
link such as `/chat` therefore runs `pages/chat.py` alone, without Home.py, and lists every file of `pages/` in a
sidebar menu of its own. `client.showSidebarNavigation = false` (.streamlit/config.toml) hides that list in both
modes, Home.py declares the pages with a hidden navigation, and this frame draws the same menu of `st.page_link`s
whichever way a page was reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

import lmspace_ui
from lmspace_ui.components import offline_banner

# A file shipped with the package: a `:material/...` page icon makes every page fetch its favicon from a font host.
ICON = Path(lmspace_ui.__file__).parent / "static" / "lmspace.png"


@dataclass(frozen=True)
class PageEntry:
    """One page of the dashboard: its script (relative to Home.py), its menu title and its menu icon."""

    path: str
    title: str
    icon: str


PAGES = (
    PageEntry("pages/home.py", "Home", ":material/home:"),
    PageEntry("pages/spaces.py", "Spaces", ":material/folder_open:"),
    PageEntry("pages/upload.py", "Upload", ":material/upload:"),
    PageEntry("pages/chat.py", "Chat", ":material/chat:"),
    PageEntry("pages/research.py", "Research", ":material/travel_explore:"),
    PageEntry("pages/sync_jobs.py", "Sync Jobs", ":material/sync:"),
    PageEntry("pages/settings.py", "Settings", ":material/settings:"),
)


def navigation() -> StreamlitPage:
    """The pages for Home.py's `st.navigation`, the first one the default; Streamlit's own menu stays hidden.

    No icons here: a page's `:material/...` icon would become the tab's favicon, fetched from a font host.
    """
    return st.navigation(
        [st.Page(page.path, title=page.title, default=index == 0) for index, page in enumerate(PAGES)],
        position="hidden",
    )


def frame() -> None:
    """Page settings, the menu of pages in the sidebar, and the offline banner: the first call of every page."""
    st.set_page_config(page_title="LMSpace", page_icon=str(ICON), layout="wide")
    with st.sidebar:
        for page in PAGES:
            st.page_link(page.path, label=page.title, icon=page.icon)
    offline_banner()
