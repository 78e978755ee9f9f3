"""Codebase research: plans, codebases read as streams, pattern search by code, subagents, verified findings.

The DSPy modules that plan and answer live in `lmspace_core.agents`; everything here runs without a language model.
"""
