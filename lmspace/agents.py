"""Agents: `KnowledgeAgent` (cited answers over a space), `SubAgent` (research over one unit of code), `BaseAgent`."""

from lmspace_core.agents.base import BaseAgent
from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.agents.research.subagents import SubAgent

__all__ = ["BaseAgent", "KnowledgeAgent", "SubAgent"]
