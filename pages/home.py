"""Home: what LMSpace is, the active backend and model, counts per space, and the next step for a new user."""

import streamlit as st

from lmspace_ui.resources import workspace_or_stop

st.title("LMSpace")
workspace = workspace_or_stop()
st.write(f"{len(workspace.list_spaces())} spaces")
