"""Streamlit glue for the LMSpace dashboard: cached core objects, shared components and chart builders.

Pages import from here and from `lmspace_core`; nothing in `lmspace_core` imports Streamlit.
"""
