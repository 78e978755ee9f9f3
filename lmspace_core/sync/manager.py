"""`SyncManager`: plan a space's delta, build and check its dataset, run the job, gate and switch the model.

Jobs run on a background thread of this process and write everything to the sync store, so the CLI, the dashboard
and another process all watch the same job. When a job succeeds its model becomes a model version of the space,
scored against the current model on held-out examples (a remote model once deployed, see `sync.evaluate`); it is
activated only if it scores better (or when forced). A remote job whose process stopped is polled again by the next `SyncManager`; a local one is interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import suppress
from datetime import UTC, datetime

from lmspace_core.config import Settings
from lmspace_core.domain import ProgressCallback, Space, ignore_progress
from lmspace_core.errors import LMSpaceError, ModelError, NotAvailableYetError, NotFoundError
from lmspace_core.jobs import owner_is_alive, this_process_owner
from lmspace_core.sync import auto, tuned
from lmspace_core.sync.backends.base import Outcome, SyncBackend
from lmspace_core.sync.dataset import DatasetRules, assemble, build_dataset, check_dataset
from lmspace_core.sync.delta import space_delta
from lmspace_core.sync.deployment import deploy_command
from lmspace_core.sync.model import (
    Dataset,
    DatasetCheck,
    Delta,
    DeltaItem,
    Metric,
    ModelVersion,
    SyncEvent,
    SyncJob,
    SyncKind,
    SyncStatus,
)
from lmspace_core.sync.next_steps import azure_ml_deploy, evaluate_after
from lmspace_core.sync.prompt import PromptSync, switch_program
from lmspace_core.sync.queue import SyncQueue, SyncRequest
from lmspace_core.sync.store import SyncStore, SyncUnderWayError, new_id
from lmspace_core.sync.structure import structure_examples
from lmspace_core.telemetry import operation
from lmspace_core.workspace import Workspace, build_sync_store

log = logging.getLogger(__name__)

BASE_MODEL = "base"
SUBMIT_POLL_S = 0.05  # what `rollback` and `activate` call the space's configured model, before any sync


class DatasetRejectedError(LMSpaceError):
    """A dataset failed its checks; nothing was uploaded."""

    exit_code = 11


def dataset_rules(settings: Settings) -> DatasetRules:
    sync = settings.sync
    return DatasetRules(sync.min_examples, sync.max_example_tokens, sync.validation_share)


class _JobReporter:
    """A backend's `Reporter` bound to one job of the store."""

    def __init__(self, store: SyncStore, job: SyncJob) -> None:
        self._store, self._job = store, job

    def status(self, status: SyncStatus, message: str = "") -> None:
        self._store.update_job(self._job.enterprise_id, self._job.id, status, message)

    def event(self, message: str) -> None:
        current = self._store.get_job(self._job.enterprise_id, self._job.id).status
        self._store.add_event(self._job.enterprise_id, self._job.id, current, message)

    def metrics(self, metrics: Sequence[Metric]) -> None:
        self._store.record_metrics(self._job.enterprise_id, self._job.id, metrics)

    def progress(self, done: int, total: int) -> None:
        self._store.update_job(self._job.enterprise_id, self._job.id, steps_done=done, steps_total=total)

    def remote_id(self, remote_id: str) -> None:
        self._store.update_job(self._job.enterprise_id, self._job.id, remote_id=remote_id)

    def cancel_requested(self) -> bool:
        return self._store.cancel_requested(self._job.enterprise_id, self._job.id)


class SyncManager:
    """Sync for one workspace: plans, datasets, jobs, model versions.

    `backends` maps a backend name to a factory `(space) -> SyncBackend`; by default they are built from the
    settings (`sync.backend` names the one `sync_to_llm` uses). Jobs of stopped processes are taken over: local ones
    become interrupted; remote ones are polled by this manager when `resume` (a short-lived reader passes False).
    """

    def __init__(
        self,
        workspace: Workspace,
        store: SyncStore | None = None,
        backends: dict[str, Callable[[Space], SyncBackend]] | None = None,
        resume: bool = True,
    ) -> None:
        self.workspace = workspace
        self.settings = workspace.settings
        self.store = store or build_sync_store(workspace.settings)
        self._backends = backends or {}
        self._owner = this_process_owner()
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._resumes = resume
        self._take_over_orphans()

    def _take_over_orphans(self) -> None:
        orphans = self.store.claim_orphans(self.workspace.enterprise_id, self._owner, owner_is_alive,
                                           claim_remote=self._resumes)
        for job in orphans:
            self._resume(job)

    def close(self) -> None:
        """Wait for the jobs this manager runs to end (a process that exits without closing abandons them: a local
        job is then marked interrupted, a remote one is polled again, by the next manager)."""
        for future in list(self._futures.values()):
            future.exception()

    # -- plan and dataset -------------------------------------------------------------------------------------

    def plan(self, space: str | Space | None = None, full: bool = False) -> Delta:
        """What is new, changed and deleted in the space since its last successful sync (`full`: everything)."""
        target = self.space(space)
        return space_delta(self.workspace.store, self.store, target.scope, full=full)

    def build_dataset(
        self, space: str | Space | None = None, delta: Delta | None = None, progress: ProgressCallback = ignore_progress
    ) -> Dataset:
        """Training examples from the delta (default: the space's current one); with a language model configured a
        DSPy module writes a grounded pair per passage, otherwise the documents' structure does."""
        target = self.space(space)
        delta = delta or self.plan(target)
        return build_dataset(self.workspace.store, target, delta, self._example_writer(target),
                             dataset_rules(self.settings), progress)

    def check(self, dataset: Dataset) -> DatasetCheck:
        return check_dataset(dataset, dataset_rules(self.settings))

    def _example_writer(self, space: Space):
        lm = self.workspace.lm
        if lm is None:
            return structure_examples
        import dspy

        from lmspace_core.sync.generator import GroundedPairWriter

        writer = GroundedPairWriter()

        def write(document, chunk):
            with dspy.context(lm=lm):
                return writer(document, chunk, space.instructions)

        return write

    # -- jobs -------------------------------------------------------------------------------------------------

    def sync_to_llm(
        self,
        dataset: Dataset | None = None,
        space: str | Space | None = None,
        *,
        backend: str | SyncBackend | None = None,
        force: bool = False,
        wait: bool | None = None,
        progress: ProgressCallback = ignore_progress,
        kind: SyncKind | str = SyncKind.MODEL,
    ) -> SyncJob:
        """Sync a space (default: the default space) to a model on a backend (default: `sync.backend`), or, with
        `kind="prompt"`, compile its answering program on its examples (`lmspace_core.sync.prompt`).

        Builds the dataset from the space's delta unless `dataset` is given, checks it, and refuses it with
        `DatasetRejectedError` (the job is recorded as failed, with the reasons) before anything is uploaded.
        The job then runs on a background thread. `wait=True` returns when it has ended, `wait=False` at once;
        by default a local job is waited for and a remote one only until it is submitted (it then runs remotely,
        and whichever process opens a `SyncManager` next polls it). `force` activates the new model even if it
        does not score better than the current one. Returns the job as it is on return.
        """
        target = self.space(space)
        if SyncKind(kind) is SyncKind.PROMPT:
            if dataset is not None or backend is not None:
                raise LMSpaceError("A prompt sync compiles the space's answering program on its examples with the "
                                   "configured language model: it takes no dataset and no backend.")
            return self._sync_prompts(target, force, wait is not False)
        runner = backend if backend is not None and not isinstance(backend, str) else self._backend(target, backend)
        job = self._create_job(target, runner.name)
        reporter = _JobReporter(self.store, job)
        try:
            reporter.status(SyncStatus.VALIDATING, "building and checking the dataset")
            delta = self.plan(target)
            if dataset is None:
                dataset = self.build_dataset(target, delta, progress)
            if dataset.space_id != target.id:
                dataset = assemble(target, delta.base_sequence, delta.through_sequence, dataset.examples,
                                   dataset_rules(self.settings))
            self.store.save_dataset(dataset, delta.items)
            self.store.update_job(job.enterprise_id, job.id, dataset_id=dataset.id)
            check = self.check(dataset)
            if not check.ok:
                reasons = "; ".join(check.problems)
                self.store.update_job(job.enterprise_id, job.id, SyncStatus.FAILED, f"dataset refused: {reasons}",
                                      error=f"The dataset was refused: {reasons}.")
                raise DatasetRejectedError(f"Sync job {job.id}: the dataset was refused, nothing was uploaded: "
                                           f"{reasons}.")
            ready = (f"dataset ready: {check.train_examples} training and {check.validation_examples} validation "
                     f"examples, {check.tokens} tokens")
            reporter.status(SyncStatus.QUEUED, ready)
        except DatasetRejectedError:
            raise
        except Exception as error:
            self._fail(job, error)
            raise
        self._start(job, lambda: runner.run(dataset, reporter), runner, force)
        if wait or (wait is None and runner.name == "local"):
            return self.wait(job.id)
        if wait is None:
            return self._submitted(job.id)
        return self.job(job.id)

    def _sync_prompts(self, space: Space, force: bool, wait: bool) -> SyncJob:
        runner = PromptSync(self.workspace, space)  # refuses without a language model or enough examples
        job = self._create_job(space, runner.name)
        reporter = _JobReporter(self.store, job)
        reporter.status(SyncStatus.QUEUED, "compiling the space's answering program on its examples")
        self._start(job, lambda: runner.run(reporter), runner, force)
        return self.wait(job.id) if wait else self.job(job.id)

    def _create_job(self, space: Space, backend: str) -> SyncJob:
        """A new job of the space; `SyncUnderWayError` (naming the job and how to follow or cancel it) while another
        is unfinished. A job whose process died since this manager started is marked interrupted first, so it does
        not hold the space."""
        try:
            return self.store.create_job(space.scope, backend, self._owner)
        except SyncUnderWayError:
            self._take_over_orphans()
        try:
            return self.store.create_job(space.scope, backend, self._owner)
        except SyncUnderWayError as under_way:
            raise SyncUnderWayError(under_way.job, space.name) from None

    def _submitted(self, job_id: str) -> SyncJob:
        while (job := self.job(job_id)).remote_id is None and not job.status.finished:
            time.sleep(SUBMIT_POLL_S)
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> SyncJob:
        """Block until a job of this manager ends; return it as stored."""
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)
        return self.job(job_id)

    def job(self, job_id: str) -> SyncJob:
        return self.store.get_job(self.workspace.enterprise_id, job_id)

    def jobs(self, space: str | Space | None = None, limit: int = 50) -> list[SyncJob]:
        """Sync jobs, newest first: of one space, or of every space when `space` is None."""
        space_id = self.space(space).id if space is not None else None
        return self.store.list_jobs(self.workspace.enterprise_id, space_id, limit)

    def events(self, job_id: str, after_sequence: int = 0) -> list[SyncEvent]:
        self.job(job_id)
        return self.store.events(self.workspace.enterprise_id, job_id, after_sequence)

    def metrics(self, job_id: str) -> list[Metric]:
        self.job(job_id)
        return self.store.metrics(self.workspace.enterprise_id, job_id)

    def dataset(self, job: SyncJob) -> Dataset:
        if job.dataset_id is None:
            raise NotFoundError(f"Sync job {job.id} has no dataset (it stopped before building one).")
        return self.store.get_dataset(job.enterprise_id, job.dataset_id)

    def cancel(self, job_id: str) -> SyncJob:
        """Ask a running job to stop; the process running it cancels it at its next step or poll."""
        job = self.job(job_id)
        if job.status.finished:
            return job
        if job.status in (SyncStatus.CREATED, SyncStatus.VALIDATING):
            return self.store.update_job(job.enterprise_id, job.id, SyncStatus.CANCELLED, "cancelled on request")
        self.store.add_event(job.enterprise_id, job.id, job.status, "cancel requested")
        return self.store.request_cancel(job.enterprise_id, job.id)

    def poll_remote(self, remote_id: str) -> SyncJob | None:
        """Follow the job with this remote id now (an event said it changed), unless this manager already does."""
        job = self.store.job_by_remote_id(self.workspace.enterprise_id, remote_id)
        if job is not None and not job.status.finished and job.id not in self._futures:
            self._resume(job)
        return job

    def _start(self, job: SyncJob, work: Callable[[], Outcome], runner: SyncBackend, force: bool) -> None:
        """Run the job on a daemon thread, so stopping the process (Ctrl+C, a dashboard restart) is never held up
        by a job; the next manager marks such a job interrupted or polls it again."""
        future: Future = Future()

        def target() -> None:
            try:
                self._run(job, work, runner, force)
            finally:
                future.set_result(None)

        with self._lock:
            self._futures[job.id] = future
        threading.Thread(target=target, name=f"lmspace-sync-{job.id}", daemon=True).start()

    def _run(self, job: SyncJob, work: Callable[[], Outcome], runner: SyncBackend, force: bool) -> None:
        try:
            with operation("sync", enterprise=job.enterprise_id, space=job.space_id, job=job.id,
                           backend=runner.name) as record:
                outcome = work()
                record.set(status=outcome.status.value)
                if outcome.status is SyncStatus.FAILED:
                    record.fail("failed")
                self._finish(job, runner, outcome, force)
        except Exception as error:  # a failed job must end visibly, never stay "running"
            self._fail(job, error)

    def _fail(self, job: SyncJob, error: Exception) -> None:
        if isinstance(error, LMSpaceError):
            message = str(error)
        else:
            log.exception("sync job %s failed", job.id)
            message = f"Unexpected error ({type(error).__name__}): {error}"
        self.store.update_job(job.enterprise_id, job.id, SyncStatus.FAILED, message, error=message)

    def _finish(self, job: SyncJob, runner: SyncBackend, outcome: Outcome, force: bool) -> None:
        if outcome.status is not SyncStatus.SUCCEEDED:
            self.store.update_job(job.enterprise_id, job.id, outcome.status,
                                  outcome.error or outcome.status.value, error=outcome.error, model_id=outcome.model_id)
            return
        served = outcome.deployment if outcome.deployed else None
        version = self.store.add_model(ModelVersion(
            id=new_id(), enterprise_id=job.enterprise_id, space_id=job.space_id, job_id=job.id,
            dataset_id=self.job(job.id).dataset_id, backend=runner.name, kind=runner.model_kind,
            reference=served or outcome.model_id or "", score_before=outcome.score_before,
            score_after=outcome.score_after, active=False, created_at=datetime.now(UTC),
            deployment=outcome.deployment,
        ))
        self.store.update_job(job.enterprise_id, job.id, model_id=outcome.model_id, model_version_id=version.id,
                              score_before=outcome.score_before, score_after=outcome.score_after)
        if outcome.deployed and outcome.deployment:
            with suppress(LMSpaceError):  # a failed evaluation is recorded on the job, which still succeeded
                self.evaluate(version.id, outcome.deployment, force=force, runner=runner)
            return
        pending = ""
        if outcome.deployment and outcome.next_step:
            space = self.workspace.space(job.space_id)
            pending = evaluate_after(outcome.next_step, space.name, version.id, outcome.deployment)
        elif version.score_after is None:
            pending = self.pending_step(version)
        self.store.update_job(job.enterprise_id, job.id, SyncStatus.SUCCEEDED,
                              f"model {version.id} {self._switch(version, force, pending)}")

    def _switch(self, version: ModelVersion, force: bool, pending: str = "") -> str:
        """Activate the version if it scored better than the current model (or `force`); say what happened."""
        if force or version.improved:
            self.activate(version.id, force=force)
            return "activated" + (" (forced)" if force and not version.improved else "")
        if version.score_after is None:
            return f"not activated: {pending}"
        return f"not activated: it scored {version.score_after:.3f}, the current model {version.score_before:.3f}"

    def evaluate(self, version_id: str, deployment: str, space: str | Space | None = None, *, force: bool = False,
                 runner: SyncBackend | None = None) -> ModelVersion:
        """Evaluate a remote model version, served by `deployment`, against the space's current model on the
        space's held-out questions (see `sync.evaluate`); record both scores and activate it only if it scores
        better (or `force`). The job's last event says what happened. Raises `ModelError` when the deployment or
        the current model cannot be asked (the job records why and how to retry)."""
        from lmspace_core.sync.evaluate import evaluate_deployment

        version = self._version(version_id, space)
        target = self.workspace.space(version.space_id)
        if version.job_id is None:
            raise LMSpaceError(f"Model version {version.id} was not made by a sync job: there are no held-out "
                               f"questions to evaluate it on; `lmspace sync activate` switches to it as it is.")
        job = self.job(version.job_id)
        runner = runner or self._backend(target, version.backend)
        chat = getattr(runner, "chat", None)
        if chat is None:
            raise LMSpaceError(f"Model version {version.id} ({version.backend}) is not a deployment LMSpace can ask "
                               f"questions; `lmspace sync activate {target.name} {version.id}` switches to it as it is.")
        active = self.store.active_model(target.scope)
        replaced = active if active is None or active.id != version.id else None  # not itself, when evaluated again
        try:
            evaluation = evaluate_deployment(chat, deployment, self.dataset(job), replaced, self.settings,
                                             _JobReporter(self.store, job).event, backend=version.backend)
        except LMSpaceError as error:
            self.store.update_job(job.enterprise_id, job.id, SyncStatus.SUCCEEDED,
                                  f"model {version.id} not activated: its evaluation failed: {error} Retry with "
                                  f"`lmspace sync evaluate {target.name} {version.id} --deployment {deployment}`.")
            raise
        version = self.store.record_evaluation(version.enterprise_id, version.id, deployment,
                                               evaluation.score_before, evaluation.score_after)
        self.store.update_job(job.enterprise_id, job.id, score_before=evaluation.score_before,
                              score_after=evaluation.score_after)
        switched = self._switch(version, force)
        if not self.store.get_model(version.enterprise_id, version.id).active:
            switched += self._retire(runner, version, job, deployment)
        self.store.update_job(job.enterprise_id, job.id, SyncStatus.SUCCEEDED,
                              f"model {version.id} ({deployment}) {switched}")
        return self.store.get_model(version.enterprise_id, version.id)

    def _retire(self, runner: SyncBackend, version: ModelVersion, job: SyncJob, deployment: str) -> str:
        """Delete the deployment LMSpace made for a model that lost, so it stops billing; the version then awaits a
        deployment again (`activate` gives the commands). Returns what the job's message adds."""
        retire = getattr(runner, "retire", None)
        if retire is None or job.remote_id is None or job.model_id is None:
            return ""
        try:
            if not retire(deployment, job.remote_id):
                return ""
        except ModelError as error:
            return f"; its deployment '{deployment}' was not deleted and is billed while it exists: {error}"
        self.store.record_undeployed(version.enterprise_id, version.id, job.model_id)
        return (f"; its deployment '{deployment}' is being deleted so that it stops billing (`sync.{runner.name}."
                "deploy.keep_losers: true` keeps such deployments)")

    def _resume(self, job: SyncJob) -> None:
        """Follow a remote job that a stopped process started (claimed from the store)."""
        runner = self._backend(self.workspace.space(job.space_id), job.backend)
        reporter = _JobReporter(self.store, job)
        reporter.event("polling again after a restart")
        self._start(job, lambda: runner.resume(job.remote_id or "", reporter), runner, force=False)

    def _backend(self, space: Space, name: str | None) -> SyncBackend:
        name = name or self.settings.sync.backend
        if name in self._backends:
            return self._backends[name](space)
        from lmspace_core.sync.backends.factory import build_backend

        return build_backend(name, self.settings, self._start_from(space), space.id)

    def _start_from(self, space: Space) -> str:
        """The folder of the model a local sync trains further: the space's tuned model, else the packaged base."""
        if tuned.is_tuned(space.embedder_id):
            return str(tuned.model_folder(self.settings.data_dir, tuned.version_of(space.embedder_id)))
        return tuned.base_model_path()

    # -- automatic sync ---------------------------------------------------------------------------------------

    def due(self, space: str | Space | None = None) -> str | None:
        """Why the space should sync now (its delta passed `sync.auto_sync_items` or `auto_sync_age_h`), or None."""
        return auto.due_reason(self.settings, self.workspace.store, self.store, self.space(space))

    def auto_sync_outlook(self, space: str | Space | None = None) -> auto.AutoSyncOutlook:
        """When the space's next automatic sync comes and what it waits for (e.g. a refused dataset's backoff)."""
        return auto.outlook(self.settings, self.workspace.store, self.store, self.space(space))

    def enqueue_due(self, queue: SyncQueue) -> list[SyncRequest]:
        """Queue a sync of every `sync.auto_sync` space that is due, not held back by a failed automatic attempt,
        and has no request queued or running and no job under way."""
        queued = (auto.enqueue_if_due(self.settings, self.workspace.store, self.store, queue, self.space(name))
                  for name in self.settings.sync.auto_sync)
        return [request for request in queued if request is not None]

    def run_queued(self, queue: SyncQueue) -> list[SyncJob]:
        """Run every queued request to its end, one after the other; return the jobs (refused ones included). A
        request that already ran or runs elsewhere (a queue may deliver a message twice) is dropped."""
        jobs = []
        while (taken := queue.take()) is not None:
            try:
                job = self._run_request(taken.request)
            finally:
                queue.done(taken)
            if job is not None:
                jobs.append(job)
        return jobs

    def _run_request(self, request: SyncRequest) -> SyncJob | None:
        claimed = auto.claim(self.store, request)
        if claimed is None:
            log.info("dropped sync request %s of space %s: it ran already or runs elsewhere", request.id,
                     request.space_id)
            return None
        space = self.space(request.space_id)
        through = self.plan(space).through_sequence
        try:
            job = self.sync_to_llm(space=space, wait=True)
        except SyncUnderWayError:  # a sync started by hand since the request was queued covers its delta
            auto.release(self.store, space, claimed)
            return None
        except LMSpaceError as error:  # e.g. the dataset was refused: the job records why
            job = auto.job_started_since(self.store, space, claimed.requested_at)
            auto.settle(self.settings, self.store, space, claimed, job, through, error=str(error))
            if job is None:  # nothing started (e.g. the backend is not configured): the worker says why
                raise
            return job
        auto.settle(self.settings, self.store, space, claimed, job, through)
        return job

    # -- model versions ---------------------------------------------------------------------------------------

    def models(self, space: str | Space | None = None) -> list[ModelVersion]:
        """The space's model versions, newest first (the active one is marked `active`)."""
        return self.store.list_models(self.space(space).scope)

    def lineage(self, version: ModelVersion) -> list[DeltaItem]:
        """Which documents, at which versions, went into the dataset a model version was trained on."""
        return self.store.lineage(version.enterprise_id, version.dataset_id) if version.dataset_id else []

    def activate(self, version_id: str, space: str | Space | None = None,
                 progress: ProgressCallback = ignore_progress, *, force: bool = False) -> ModelVersion:
        """Make a model version the space's active one; an embedder version re-embeds the space with it first, so
        search never compares vectors of two models. `space`, when given, must be the version's space. A remote
        model that is not deployed yet is refused with the commands that deploy and evaluate it, unless `force`."""
        version = self._version(version_id, space)
        space = self.workspace.space(version.space_id)
        if version.awaiting_deployment and not force:
            raise ModelError(f"Model version {version.id} is the fine-tuned model {version.reference}, which is not "
                             f"deployed yet, so the space's agent could not call it: {self.pending_step(version)}. "
                             f"`lmspace sync activate {space.name} {version.id} --force` switches to it as it is.")
        if version.kind == "embedder":
            embedder_id = tuned.tuned_id(version.reference, self.workspace.embedder_id())
            embedder = tuned.TunedEmbedder(embedder_id, tuned.model_folder(self.settings.data_dir, version.reference),
                                           self.workspace.embedder.dimension)
            self.workspace.reembed_space(space, progress, embedder=embedder)
        switch_program(self.workspace, space, self.store.active_model(space.scope), version)
        self.store.activate_model(space.scope, version.id)
        if version.job_id:
            self.store.add_event(version.enterprise_id, version.job_id, self.job(version.job_id).status,
                                 f"model {version.id} activated")
        return self.store.get_model(version.enterprise_id, version.id)

    def _version(self, version_id: str, space: str | Space | None) -> ModelVersion:
        """A model version; `space`, when given, must be the version's space."""
        version = self.store.get_model(self.workspace.enterprise_id, version_id)
        if space is not None and self.space(space).id != version.space_id:
            raise NotFoundError(f"Model version {version_id} does not belong to space '{self.space(space).name}'.")
        return version

    def rollback(self, space: str | Space | None = None, to: str | None = None,
                 progress: ProgressCallback = ignore_progress) -> ModelVersion | None:
        """Switch back to an earlier model version (`to`; default: the one before the active one) or to the base
        model (`to="base"`, or when no earlier version exists). Returns the version now active (None: base)."""
        target = self.space(space)
        versions = self.models(target)
        if to is None:
            active = next((i for i, v in enumerate(versions) if v.active), None)
            earlier = versions[active + 1:] if active is not None else []
            to = earlier[0].id if earlier else BASE_MODEL
        if to != BASE_MODEL:
            return self.activate(to, target, progress)
        if tuned.is_tuned(target.embedder_id):
            self.workspace.reembed_space(target, progress)
        switch_program(self.workspace, target, self.store.active_model(target.scope), None)
        self.store.activate_model(target.scope, None)
        return None

    def pending_step(self, version: ModelVersion) -> str:
        """What the user runs to bring a version that was neither evaluated nor activated into use."""
        space = self.workspace.space(version.space_id).name
        if version.backend == "azure_ml":
            return azure_ml_deploy(version, self.settings.sync.azure_ml, self.settings.data_dir / "sync", space)
        if version.awaiting_deployment and version.deployment:
            command = deploy_command(self.settings.sync.azure_openai, version.reference, version.deployment)
            return evaluate_after(f"deploy it with `{command}`", space, version.id, version.deployment)
        return (f"no sync of this space made it, so there are no held-out questions to evaluate it on; `lmspace "
                f"sync activate {space} {version.id}` switches to it as it is")

    def pull_llm_updates(self, model_id: str, space: str | Space | None = None, *, kind: str = "deployment",
                         backend: str = "external", deployment: str | None = None,
                         force: bool = False, deployed: bool = True) -> ModelVersion:
        """Take up a model that became available outside this process (an Event Grid model event, a deployment
        made by hand). The version a sync made of it (found by its model id or deployment) is evaluated through
        `deployment` (default: the one it was to be deployed as) and activated only if it scores better, as at the
        end of a sync; a model LMSpace cannot evaluate (not made by a sync of the space) is recorded as a version and
        activated only with `force`. `deployed=False` (a model only registered, not served yet) records it without
        asking it anything. Returns the version; when it is not active, its job's message or `pending_step` says
        why."""
        target = self.space(space)
        version = self._version_named(target, {model_id, deployment} - {None}) or self.store.add_model(ModelVersion(
            id=new_id(), enterprise_id=target.enterprise_id, space_id=target.id, job_id=None, dataset_id=None,
            backend=backend, kind=kind, reference=deployment or model_id, score_before=None, score_after=None,
            active=False, created_at=datetime.now(UTC), deployment=deployment,
        ))
        serving = deployment or version.deployment
        if version.active or (version.score_after is not None and not force):
            return version  # decided already (Event Grid delivers an event at least once)
        if version.job_id and serving and version.score_after is None and deployed:
            return self.evaluate(version.id, serving, force=force)
        return self.activate(version.id, force=True) if force else version

    def _version_named(self, space: Space, names: set[str]) -> ModelVersion | None:
        """The space's version whose reference, deployment or job's model id is one of `names`."""
        for version in self.models(space):
            produced = self.job(version.job_id).model_id if version.job_id else None
            if names & {version.reference, version.deployment, produced}:
                return version
        return None

    def space(self, space: str | Space | None = None) -> Space:
        """A space by name or id (the default space when None)."""
        return space if isinstance(space, Space) else self.workspace.space(space)
