"""LMSpace core: enterprise knowledge spaces with grounded answers, on an embedded default or Azure.

    from lmspace_core import KnowledgeAgent, load_config

    agent = KnowledgeAgent(load_config("lmspace.yaml"))
    agent.ingest({"policies/retention.md": "# Retention\nRecords are kept for seven years."})
    print(agent.query("How long are records kept?").text)

Heavy dependencies (DSPy, torch) load on first use, so `import lmspace_core` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmspace_core.config import Settings, load_config
from lmspace_core.errors import LMSpaceError
from lmspace_core.workspace import Workspace

if TYPE_CHECKING:
    from lmspace_core.agents.knowledge import KnowledgeAgent

__all__ = ["KnowledgeAgent", "LMSpaceError", "Settings", "Workspace", "load_config"]


def __getattr__(name: str):
    if name == "KnowledgeAgent":
        from lmspace_core.agents.knowledge import KnowledgeAgent

        return KnowledgeAgent
    raise AttributeError(f"module 'lmspace_core' has no attribute {name!r}")
