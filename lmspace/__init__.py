"""LMSpace's public API, as the design names it; the implementation lives in `lmspace_core`.

    from lmspace.agents import KnowledgeAgent
    from lmspace.config import load_config

    agent = KnowledgeAgent(load_config("lmspace.yaml"))
"""
