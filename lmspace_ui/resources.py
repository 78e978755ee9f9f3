"""The dashboard's long-lived objects: one `Workspace` per configuration, shared by every session and page.

The configuration is read from `LMSPACE_CONFIG` (else `./lmspace.yaml`, else defaults) and `LMSPACE_*` variables,
exactly as the CLI reads it. Building a workspace is cheap (SQLite only); the embedding model and the language model
load on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from lmspace_core.config import Settings, load_config
from lmspace_core.errors import LMSpaceError
from lmspace_core.workspace import Workspace

if TYPE_CHECKING:
    from lmspace_core.agents.knowledge import KnowledgeAgent


def current_settings() -> Settings:
    """Settings as they are now (re-read on every run, so an edited lmspace.yaml shows up on refresh)."""
    return load_config(os.environ.get("LMSPACE_CONFIG"))


def _settings_fingerprint() -> tuple:
    """What the settings depend on: the config file (path and modification time) and the LMSPACE_* variables."""
    path = Path(os.environ.get("LMSPACE_CONFIG") or "lmspace.yaml")
    stamp = path.stat().st_mtime_ns if path.is_file() else None
    variables = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("LMSPACE_")))
    return str(path.resolve()), stamp, variables


@st.cache_resource(show_spinner=False)
def _workspace_for(fingerprint: tuple) -> Workspace:
    """`fingerprint` is only the cache key: a changed file or variable builds a new workspace."""
    return Workspace(current_settings())


def get_workspace() -> Workspace:
    """The workspace for the current settings, built once per distinct configuration and shared by all sessions."""
    return _workspace_for(_settings_fingerprint())


def workspace_or_stop() -> Workspace:
    """The workspace, or an error box and the end of this page's run when the configuration is broken."""
    try:
        return get_workspace()
    except LMSpaceError as error:
        st.error(f"LMSpace cannot start with this configuration:\n\n{error}")
        st.page_link("pages/settings.py", label="Open Settings", icon=":material/settings:")
        st.stop()


@st.cache_resource(show_spinner=False, hash_funcs={Workspace: id})
def knowledge_agent(workspace: Workspace) -> KnowledgeAgent:
    """The workspace's question-answering agent, built once: building it imports DSPy, which takes seconds."""
    from lmspace_core.agents.knowledge import KnowledgeAgent

    return KnowledgeAgent(workspace)
