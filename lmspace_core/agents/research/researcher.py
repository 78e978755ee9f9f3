"""`CodebaseResearcher`: plan a research task, run the plan, verify every finding, summarise.

Strategies: *pattern* runs code (exact, no model); *map* asks one isolated subagent per file or piece and reduces
their answers recursively; *explore* runs `dspy.RLM` with code confined to a sandbox; *search* is the semantic
fallback when no model is configured and no task family matched, and says so.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lmspace_core.domain import Finding, Job, ProgressCallback, Scope, SearchFilter, Space, ignore_progress
from lmspace_core.errors import LMSpaceError, NotFoundError
from lmspace_core.plugins import registry
from lmspace_core.ingest.inputs import upload_names
from lmspace_core.research.codebase import Codebase, select_files, why_nothing_selected
from lmspace_core.research.plan import ResearchPlan, Strategy
from lmspace_core.research.result import ResearchResult, ResearchStats
from lmspace_core.research.scan import Scan, findings_from_hits, scan_pattern, search_ad_hoc
from lmspace_core.research.verify import verify_findings
from lmspace_core.telemetry import operation
from lmspace_core.workspace import Workspace

if TYPE_CHECKING:
    from lmspace_core.agents.research.planner import ResearchPlanner

ResearchTarget = Mapping[str, str | bytes] | str | Path | Space


class CodebaseResearcher:
    """Research over a `{path: content}` mapping, a folder, a `.zip`, or the code ingested into a space."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def codebase(self, target: ResearchTarget) -> tuple[Codebase, Space | None]:
        """The codebase a target names; a space's ingested code is read back from its stored files."""
        if isinstance(target, Mapping):
            return Codebase.from_mapping(target), None
        if isinstance(target, Space):
            return self._space_codebase(target), target
        if isinstance(target, str) and (space := self._space_named(target)) is not None:
            return self._space_codebase(space), space
        path = Path(target)
        if path.exists():
            return Codebase.from_path(path, self.workspace.ingest_limits()), None
        space = self.workspace.space(str(target))
        return self._space_codebase(space), space

    def _space_named(self, target: str) -> Space | None:
        """The space a bare name names, even beside a folder of that name (`docs` in a checkout holding `docs/`);
        a target written as a path (`./docs`, `a/b`, `code.zip`) is the file or folder."""
        if "/" in target or "\\" in target or target.startswith(".") or target.lower().endswith(".zip"):
            return None
        try:
            return self.workspace.space(target)
        except NotFoundError:
            return None

    def _space_codebase(self, space: Space) -> Codebase:
        self.workspace.keep_offline(space)
        documents = self.workspace.documents(space, SearchFilter(doc_types=("code",)))
        if not documents:
            raise NotFoundError(f"Space '{space.name}' holds no code; ingest a codebase folder or .zip into it first.")
        return Codebase.from_documents(space.name, documents, self.workspace.blobs)

    def plan(self, task: str, codebase: Codebase, space: Space | None = None) -> ResearchPlan:
        """A plan from the configured model (with the planner compiled for `space`, if any), or from the built-in
        rules when there is none."""
        with operation("research.plan", **self._traced(space)) as record:
            plan = self.planner(space).plan(task, codebase, self.workspace.language_model(space))
            record.set(strategy=str(plan.strategy), planner=plan.planner)
            return plan

    def _traced(self, space: Space | None) -> dict[str, str]:
        """What a research span carries: ids only (the task and the code stay out of telemetry)."""
        return {"enterprise": self.workspace.enterprise_id, "space": space.id if space is not None else ""}

    def planner(self, space: Space | None) -> ResearchPlanner:
        """The research planner: the one `lmspace optimize SPACE --program planner` compiled for the space, if any."""
        from lmspace_core.agents.programs import PLANNER, compiled, program_path
        from lmspace_core.agents.research.planner import ResearchPlanner

        if space is None:
            return ResearchPlanner()
        return compiled(ResearchPlanner(), program_path(self.workspace.settings.data_dir, space, PLANNER))

    def run(
        self,
        plan: ResearchPlan,
        codebase: Codebase,
        space: Space | None = None,
        progress: ProgressCallback = ignore_progress,
    ) -> ResearchResult:
        """Execute `plan`; only findings whose text is re-read at their location are returned."""
        with operation("research", **self._traced(space), strategy=str(plan.strategy),
                       planner=plan.planner) as record:
            result = self._execute(plan, codebase, space, progress)
            record.set(files=result.stats.files, bytes=result.stats.bytes, findings=len(result.findings),
                       rejected=len(result.rejected), lm_calls=result.stats.lm_calls, tokens=result.stats.tokens)
            return result

    def _execute(
        self, plan: ResearchPlan, codebase: Codebase, space: Space | None, progress: ProgressCallback
    ) -> ResearchResult:
        started = time.perf_counter()
        files = select_files(codebase, plan.files)
        if not files:
            stats = ResearchStats(0, 0, 0, 0, round(time.perf_counter() - started, 3))
            return ResearchResult(plan, (), (), f"Nothing was searched. {why_nothing_selected(codebase, plan.files)}",
                                  stats, codebase.cached_at)
        lm_calls = tokens = 0
        summary = ""  # the subagents' notes, for model-run strategies
        match plan.strategy:
            case Strategy.PATTERN:
                scan = scan_pattern(codebase, files, plan.pattern, plan.files.contains, progress)
            case Strategy.SEARCH:
                scan = self._search(plan, codebase, files, space, progress)
            case _:  # map, explore, or a strategy a plugin registered: an executor from the registry
                scan, summary, lm_calls, tokens = self._executed(plan, codebase, files, space, progress)
        verification = verify_findings(scan.findings, codebase)
        findings = _unique(verification.verified, ranked=plan.strategy is Strategy.SEARCH)
        if plan.strategy in (Strategy.MAP, Strategy.EXPLORE):
            from lmspace_core.agents.research.summary import summarize

            written = summarize(plan.task, summary, findings, self.workspace.language_model(space))
            summary, lm_calls, tokens = written.text, lm_calls + written.lm_calls, tokens + written.tokens
        elif plan.strategy in (Strategy.PATTERN, Strategy.SEARCH):
            summary = _summarise(plan, findings, scan.files)
        stats = ResearchStats(scan.files, scan.bytes, lm_calls, tokens, round(time.perf_counter() - started, 3))
        return ResearchResult(plan, findings, verification.rejected, summary, stats, codebase.cached_at)

    def _search(self, plan, codebase, files, space, progress) -> Scan:
        if space is not None:
            hits = self.workspace.search(space, plan.question or plan.task, k=10,
                                         search_filter=SearchFilter(doc_types=("code",)))
            wanted = {f.path for f in files}
            return Scan(findings_from_hits([h for h in hits if h.document.source in wanted]), len(files),
                        sum(f.size for f in files))
        return search_ad_hoc(codebase, files, plan.question or plan.task, self.workspace.embedder,
                             progress=progress)

    def _executed(self, plan, codebase, files, space, progress) -> tuple[Scan, str, int, int]:
        """Run the executor registered for the plan's strategy; plugin strategies write their own summary."""
        make_executor = registry().get("research_strategy", str(plan.strategy)).target
        result = make_executor(self.workspace, self.workspace.language_model(space)).run(
            plan.task, plan.question or plan.task, codebase, files, progress
        )
        size = sum(f.size for f in files)
        return Scan(tuple(result.findings), len(files), size), result.summary, result.lm_calls, result.tokens


def _unique(findings: tuple[Finding, ...], ranked: bool = False) -> tuple[Finding, ...]:
    """One finding per place, in path order, or in the given order when it is a ranking (search results come best
    match first, and sorting them by path hid the best one)."""
    seen: dict[tuple[str, int, int, int], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.path, finding.line, finding.column or 0, finding.end_line), finding)
    return tuple(seen.values()) if ranked else tuple(seen[key] for key in sorted(seen))


def _summarise(plan: ResearchPlan, findings: tuple[Finding, ...], files: int) -> str:
    places = len({f.path for f in findings})
    if plan.strategy is Strategy.SEARCH:
        return (f"No language model is configured and the task matched no built-in pattern, so these are the "
                f"{len(findings)} code passages most similar to the task (semantic search over {files} files), "
                "not answers.")
    return f"{_count(len(findings), 'finding')} in {places} of {_count(files, 'file')} scanned ({plan.rationale})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def plan_research(
    workspace: Workspace, task: str, space: Space | None = None, archive: tuple[str, bytes] | None = None
) -> ResearchPlan:
    """Plan `task` over a space's code or an uploaded `.zip` (name, bytes), reading only the file list."""
    researcher = CodebaseResearcher(workspace)
    if archive is None:
        return researcher.plan(task, researcher.codebase(space)[0], space)
    [name] = upload_names([archive[0]])
    with tempfile.TemporaryDirectory(dir=workspace.settings.data_dir) as staging:
        path = Path(staging) / name
        path.write_bytes(archive[1])
        return researcher.plan(task, researcher.codebase(path)[0])


def start_research(
    workspace: Workspace, plan: ResearchPlan, space: Space | None = None, archive: tuple[str, bytes] | None = None
) -> Job:
    """Run `plan` as a background job over a space's code or an uploaded `.zip` (name, bytes).

    The job's result is `ResearchResult.to_json_data()`; an upload is staged under the data directory and removed
    when the job ends. Jobs about an upload belong to no space (their space id is empty).
    """
    if (space is None) == (archive is None):
        raise LMSpaceError("Research needs either a space or an uploaded .zip, not both.")
    staging = workspace.settings.data_dir / "uploads" / uuid.uuid4().hex
    [upload] = upload_names([archive[0]]) if archive is not None else [""]
    if archive is not None:
        staging.mkdir(parents=True)
        (staging / upload).write_bytes(archive[1])
    target = space if space is not None else staging / upload
    scope = space.scope if space is not None else Scope(workspace.enterprise_id, "")
    researcher = CodebaseResearcher(workspace)

    def work(progress: ProgressCallback) -> dict:
        try:
            codebase, in_space = researcher.codebase(target)
            return researcher.run(plan, codebase, in_space, progress).to_json_data()
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    name = space.name if space is not None else upload
    return workspace.jobs.submit(scope, "research", f"Research {name}: {plan.task}", work)
