"""What every LMSpace agent shares: a workspace, space resolution, retrieval, and its own model context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dspy

from lmspace_core.config import Settings
from lmspace_core.domain import Hit, IngestReport, ProgressCallback, SearchFilter, Space, ignore_progress
from lmspace_core.ingest.entities import is_entity, is_entity_list, stored_entity_ids
from lmspace_core.workspace import IngestSource, Workspace

if TYPE_CHECKING:
    from lmspace_core.research.plan import ResearchPlan
    from lmspace_core.research.result import ResearchResult
    from lmspace_core.sync.manager import SyncManager
    from lmspace_core.sync.model import Dataset, ModelVersion, SyncJob


class BaseAgent(dspy.Module):
    """A DSPy module bound to a workspace; built from settings (`load_config(...)`) or from a shared workspace.

    Calls that name no space use the configured `default_space`, created on first use.
    """

    def __init__(self, source: Settings | Workspace) -> None:
        super().__init__()
        self.workspace = source if isinstance(source, Workspace) else Workspace(source)
        self._sync: SyncManager | None = None

    def space(self, space: str | Space | None = None) -> Space:
        return space if isinstance(space, Space) else self.workspace.space(space)

    def ingest(
        self,
        sources: Sequence[IngestSource] | IngestSource,
        space: str | Space | None = None,
        tags: Sequence[str] = (),
        progress: ProgressCallback = ignore_progress,
    ) -> IngestReport | list[str]:
        """Ingest into the space: files, folders, zips or `{path: content}` mappings (returns the `IngestReport`),
        or knowledge entities `{"content", "id"?, "metadata"?, "embeddings"?}`, one or a list (returns their ids).

        An entity that cannot be stored raises `IngestError` with its reason; the others are stored.
        """
        report = self.workspace.ingest(self.space(space), sources, tags=tags, progress=progress)
        return stored_entity_ids(report) if is_entity(sources) or is_entity_list(sources) else report

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
        return researcher.run(plan or researcher.plan(task, found, in_space), found, in_space, progress)

    def sync_to_llm(
        self, dataset: Dataset | None = None, space: str | Space | None = None, *, wait: bool = True, **options
    ) -> SyncJob:
        """Fine-tune a model on what changed in the space (default space) since its last sync; return the job.

        Runs on `sync.backend` (options: `backend`, `force`, `kind="prompt"` to optimise the space's prompts with
        the configured language model instead; see `SyncManager.sync_to_llm`). A dataset that fails
        its checks raises `DatasetRejectedError` before anything is uploaded. By default the call returns once the
        job has ended, as a script expects (a job still running when Python exits cannot finish: interpreter
        shutdown refuses the threads training needs); `wait=False` returns at once and the job runs on.
        """
        return self.sync_manager.sync_to_llm(dataset, space, wait=wait, **options)

    def pull_llm_updates(self, model_id: str, space: str | Space | None = None, **options) -> ModelVersion:
        """Take up a model deployed outside this process (a fine-tuned model id or deployment name): the version a
        sync made of it is evaluated and activated only if it scores better; any other model is recorded and
        activated only with `force=True` (options: `deployment`, `force`; see `SyncManager.pull_llm_updates`)."""
        return self.sync_manager.pull_llm_updates(model_id, space, **options)

    def language_model(self, space: Space):
        """The model that answers in `space`: the configured one, or the fine-tuned deployment a sync made the space's
        active model (`pull_llm_updates`, `lmspace sync activate`): an Azure OpenAI deployment reached through the
        configured endpoint and credentials, or an Azure ML deployment asked through the space's online endpoint
        (see `sync.space_model`). None when there is no model at all."""
        return self.workspace.language_model(space)

    @property
    def sync_manager(self) -> SyncManager:
        """The workspace's sync manager, built on first use (it takes over jobs a stopped process left)."""
        from lmspace_core.sync.manager import SyncManager

        if self._sync is None:
            self._sync = SyncManager(self.workspace)
        return self._sync
