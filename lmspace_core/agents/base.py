"""What every LMSpace agent shares: a workspace, space resolution, retrieval, and its own model context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dspy

from lmspace_core.config import Settings
from lmspace_core.domain import Hit, IngestReport, ProgressCallback, SearchFilter, Space, ignore_progress
from lmspace_core.errors import NotAvailableYetError
from lmspace_core.workspace import IngestSource, Workspace

if TYPE_CHECKING:
    from lmspace_core.research.plan import ResearchPlan
    from lmspace_core.research.result import ResearchResult


class BaseAgent(dspy.Module):
    """A DSPy module bound to a workspace; built from settings (`load_config(...)`) or from a shared workspace.

    Calls that name no space use the configured `default_space`, created on first use.
    """

    def __init__(self, source: Settings | Workspace) -> None:
        super().__init__()
        self.workspace = source if isinstance(source, Workspace) else Workspace(source)

    def space(self, space: str | Space | None = None) -> Space:
        return space if isinstance(space, Space) else self.workspace.space(space)

    def ingest(
        self,
        sources: Sequence[IngestSource] | IngestSource,
        space: str | Space | None = None,
        tags: Sequence[str] = (),
        progress: ProgressCallback = ignore_progress,
    ) -> IngestReport:
        """Ingest files, folders, zips or `{path: content}` mappings into the space."""
        return self.workspace.ingest(self.space(space), sources, tags=tags, progress=progress)

    def retrieve(
        self, space: Space, question: str, search_filter: SearchFilter = SearchFilter(), k: int | None = None
    ) -> list[Hit]:
        return self.workspace.search(space, question, k=k, search_filter=search_filter)

    def research(
        self,
        task: str,
        codebase: Mapping[str, str | bytes] | str | Path | None = None,
        space: str | Space | None = None,
        plan: ResearchPlan | None = None,
        progress: ProgressCallback = ignore_progress,
    ) -> ResearchResult:
        """Research a codebase (`{path: content}`, a folder, a .zip, or the code ingested into `space`).

        Plans the task (with the model, or the built-in rules without one) unless `plan` is given, runs it with
        isolated subagents or code, and returns only findings whose text was re-read at their location.
        """
        from lmspace_core.agents.research.researcher import CodebaseResearcher

        researcher = CodebaseResearcher(self.workspace)
        target = codebase if codebase is not None else self.space(space)
        found, in_space = researcher.codebase(target)
        return researcher.run(plan or researcher.plan(task, found), found, in_space, progress)

    def sync_to_llm(self, space: str | Space | None = None):
        """Fine-tuning sync of a space's knowledge to a model; arrives with its own issue."""
        raise NotAvailableYetError(
            "Syncing a space to a language model (fine-tuning) is not available yet in this version of LMSpace."
        )
