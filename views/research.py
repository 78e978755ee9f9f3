"""Research: codebase research with isolated-context subagents. Not available yet; says what it will do."""

import streamlit as st

st.title("Research")
st.info(
    "Codebase research is not available yet in this version of LMSpace. Nothing on this page runs yet.",
    icon=":material/construction:",
)
st.markdown(
    """
When it lands, this page will let you pick a space (or upload a `.zip`), type a task such as
*"Find print statements"* or *"Where is class `Invoice` defined?"*, and then:

- show the **research plan** (which files, which strategy: a pattern search run by code, one subagent question per
  file, or exploration in a sandbox) so you can edit it before running;
- run it as a background job with live progress (files scanned, subagents running and done, findings so far);
- list **verified findings** (path, line, the exact source text, a note) — every finding is re-read from the file
  before it is shown — with a per-directory chart and CSV/JSON export.

Until then you can ingest a codebase on the **Upload** page and ask questions about it in **Chat**.
"""
)
