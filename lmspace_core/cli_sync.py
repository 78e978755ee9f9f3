"""`lmspace sync ...`: plan a space's delta, run a fine-tuning sync, watch it, and manage the space's models.

A sync job runs inside the process that started it, so `start` stays until the job ends (`--follow` prints its
events and metrics as they come). A remote job whose process stopped is polled again by the next `lmspace sync`
command; a local one is marked interrupted.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lmspace_core.cli import (JsonFlag, SpaceArg, _handles_errors, _print_json, _progress_bar, _workspace, app, console,
                              shown)
from lmspace_core.errors import ConfigError, NotFoundError
from lmspace_core.sync.dataset import check_dataset, to_jsonl
from lmspace_core.sync.deployment import LOOPBACK
from lmspace_core.sync.manager import BASE_MODEL, SyncManager, dataset_rules
from lmspace_core.sync.model import DatasetFormat, Metric, Split, SyncEvent, SyncJob, SyncKind

sync_app = typer.Typer(help="Sync a space's knowledge to a model: plan, start, watch, activate, roll back.",
                       no_args_is_help=True)

JobOption = Annotated[str | None, typer.Option("--job", help="Sync job id (default: the space's latest).")]
SAMPLE = 10
POLL_S = 0.5


@contextmanager
def _manager(resume: bool = False) -> Iterator[SyncManager]:
    """A sync manager for one command; only commands that stay to run jobs (`resume`) take over remote jobs of
    stopped processes, so `status` never waits for someone else's job."""
    with _workspace() as workspace:
        manager = SyncManager(workspace, resume=resume)
        try:
            yield manager
        finally:
            manager.close()


def _job_of(manager: SyncManager, space: str, job_id: str | None) -> SyncJob:
    if job_id is not None:
        return manager.job(job_id)
    jobs = manager.jobs(space, limit=1)
    if not jobs:
        raise NotFoundError(f"Space '{space}' has no sync jobs yet; start one with `lmspace sync start {space}`.")
    return jobs[0]


def _job_row(job: SyncJob) -> dict[str, Any]:
    return {"id": job.id, "backend": job.backend, "status": job.status.value, "created": job.created_at,
            "duration_s": round(job.duration_s, 1), "model": job.model_id, "model_version": job.model_version_id,
            "score_before": job.score_before, "score_after": job.score_after, "steps_done": job.steps_done,
            "steps_total": job.steps_total, "message": job.message, "error": job.error}


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


@sync_app.command("plan")
@_handles_errors
def plan(
    space: SpaceArg,
    full: Annotated[bool, typer.Option("--full", help="Everything in the space, not only what changed.")] = False,
    examples: Annotated[bool, typer.Option("--examples", help="Also build and check the dataset.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """What is new, changed and deleted since the space's last successful sync (counts and a sample)."""
    with _manager() as manager:
        delta = manager.plan(space, full=full)
        result: dict[str, Any] = {"space": space, "base_sequence": delta.base_sequence,
                                  "through_sequence": delta.through_sequence, "counts": delta.counts,
                                  "sample": [{"source": i.source, "change": i.change.value, "version": i.version}
                                             for i in delta.items[:SAMPLE]]}
        if examples:
            dataset = manager.build_dataset(space, delta)
            check = check_dataset(dataset, dataset_rules(manager.settings))
            result["dataset"] = {"train": check.train_examples, "validation": check.validation_examples,
                                 "tokens": check.tokens, "max_example_tokens": check.max_example_tokens,
                                 "problems": list(check.problems),
                                 "sample": [{"question": e.question, "answer": e.answer, "origin": e.origin}
                                            for e in dataset.examples[:3]]}
        outlook = manager.auto_sync_outlook(space)
        result["auto_sync"] = outlook
    if as_json:
        return _print_json(result)
    counts = ", ".join(f"{count} {change}" for change, count in delta.counts.items())
    since = f"since change {delta.base_sequence}" if delta.base_sequence else "never synced"
    console.print(f"[bold]{shown(space)}[/]: {counts} ({since})")
    for item in result["sample"]:
        console.print(f"  {item['change']:<9} {shown(item['source'])} (v{item['version']})")
    if len(delta.items) > SAMPLE:
        console.print(f"  … and {len(delta.items) - SAMPLE} more")
    if examples:
        summary = result["dataset"]
        console.print(f"Dataset: {summary['train']} training, {summary['validation']} validation examples, "
                      f"{summary['tokens']} tokens")
        for problem in summary["problems"]:
            console.print(f"  [red]refused:[/] {shown(problem)}")
    if outlook.state != "off":
        console.print(shown(outlook.text), soft_wrap=True)


@sync_app.command("start")
@_handles_errors
def start(
    space: SpaceArg,
    backend: Annotated[str | None, typer.Option("--backend", help="local, azure_openai or azure_ml.")] = None,
    kind: Annotated[SyncKind, typer.Option("--kind", help="model: fine-tune a model on the space's delta; prompt: "
                                           "compile the space's answering program on its examples with the "
                                           "configured language model (DSPy).")] = SyncKind.MODEL,
    force: Annotated[bool, typer.Option("--force", help="Activate the new model even if it scores worse.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Print events and metrics live.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Build, check and upload the space's delta, run the job on the backend, and wait until it ends (`--kind
    prompt`: optimise the space's prompts instead)."""
    # DSPy's optimisers print their progress: keep stdout for the JSON alone.
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with _manager(resume=True) as manager, quiet:
        with _progress_bar(not as_json) as progress:  # building the dataset: one model call per passage with an LM
            job = manager.sync_to_llm(space=space, backend=backend, force=force, wait=False, kind=kind,
                                      progress=progress)
        if follow and not as_json:
            job = _follow(manager, job)
        job = manager.wait(job.id)
    if as_json:
        return _print_json(_job_row(job))
    _print_outcome(job)


def _follow(manager: SyncManager, job: SyncJob) -> SyncJob:
    """Print each new event, and the latest step's metrics when they change, until the job ends."""
    seen, last_step = 0, 0
    while True:
        for event in manager.events(job.id, after_sequence=seen):
            _print_event(event)
            seen = event.sequence
        metrics = manager.metrics(job.id)
        job = manager.job(job.id)
        if metrics and metrics[-1].step != last_step:
            last_step = metrics[-1].step
            console.print(f"  [dim]{_metric_text(metrics[-1], job.steps_total)}[/]")
        if job.status.finished and not manager.events(job.id, after_sequence=seen):
            return job
        time.sleep(POLL_S)


def _metric_text(metric: Metric, steps_total: int | None = None) -> str:
    parts = [f"step {metric.step}" + (f"/{steps_total}" if steps_total else "")]
    if metric.train_loss is not None:
        parts.append(f"train loss {metric.train_loss:.4f}")
    if metric.validation_loss is not None:
        parts.append(f"validation loss {metric.validation_loss:.4f}")
    if metric.accuracy is not None:
        parts.append(f"accuracy {metric.accuracy:.3f}")
    return " · ".join(parts)


def _print_event(event: SyncEvent) -> None:
    at = event.at.astimezone().strftime("%H:%M:%S")
    console.print(f"{at} [bold]{event.status.value:<11}[/] {shown(event.message)}")


def _print_outcome(job: SyncJob) -> None:
    colour = "green" if job.status.value == "succeeded" else "red"
    console.print(f"Sync job {job.id}: [{colour}]{job.status.value}[/]")
    if job.score_after is not None:
        console.print(f"Score before {_score(job.score_before)}, after {_score(job.score_after)}")
    if job.error:
        console.print(f"[red]{shown(job.error)}[/]")
    elif job.message:
        console.print(shown(job.message), soft_wrap=True)


@sync_app.command("status")
@_handles_errors
def status(space: SpaceArg, job_id: JobOption = None, as_json: JsonFlag = False) -> None:
    """The space's sync jobs (or one job with `--job`)."""
    with _manager() as manager:
        jobs = [manager.job(job_id)] if job_id else manager.jobs(space)
        outlook = manager.auto_sync_outlook(space)
    rows = [_job_row(job) for job in jobs]
    if as_json:
        return _print_json(rows)
    table = Table("id", "backend", "status", "created", "duration", "model", "before", "after")
    for job in jobs:
        steps = f" {job.steps_done or 0}/{job.steps_total}" if job.steps_total and not job.status.finished else ""
        table.add_row(job.id, job.backend, job.status.value + steps,
                      job.created_at.astimezone().strftime("%Y-%m-%d %H:%M"), f"{job.duration_s:.0f}s",
                      shown(job.model_id or ""), _score(job.score_before), _score(job.score_after))
    console.print(table)
    if jobs and jobs[0].message:
        console.print(f"Latest ({jobs[0].id}): {shown(jobs[0].message)}", soft_wrap=True)  # commands stay whole
    if outlook.state != "off":
        console.print(shown(outlook.text), soft_wrap=True)


@sync_app.command("events")
@_handles_errors
def events(space: SpaceArg, job_id: JobOption = None, as_json: JsonFlag = False) -> None:
    """The timestamped events and the metrics of a sync job (default: the space's latest)."""
    with _manager() as manager:
        job = _job_of(manager, space, job_id)
        found, metrics = manager.events(job.id), manager.metrics(job.id)
    if as_json:
        return _print_json({"job": job.id, "events": found, "metrics": metrics})
    for event in found:
        _print_event(event)
    for metric in metrics:
        console.print(f"  [dim]{_metric_text(metric, job.steps_total)}[/]")


@sync_app.command("dataset")
@_handles_errors
def dataset(
    space: SpaceArg,
    job_id: JobOption = None,
    split: Annotated[Split, typer.Option("--split", help="Which split.")] = Split.TRAIN,
    data_format: Annotated[DatasetFormat, typer.Option("--format", help="chat: {\"messages\": [system, user, "
                                                       "assistant]}; prompt: {\"prompt\", \"completion\"}.")
                           ] = DatasetFormat.CHAT,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
) -> None:
    """A sync job's dataset (default: the space's latest job) as JSON Lines, what was or would be uploaded."""
    with _manager() as manager:
        text = to_jsonl(manager.dataset(_job_of(manager, space, job_id)), split, data_format)
    if output is None:
        sys.stdout.write(text)  # not through rich, which would wrap the lines
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"{len(text.splitlines())} {split.value} examples ({data_format.value}) written to {output}")


@sync_app.command("cancel")
@_handles_errors
def cancel(space: SpaceArg, job_id: JobOption = None, as_json: JsonFlag = False) -> None:
    """Cancel a sync job (default: the space's latest); the process running it stops it at its next step."""
    with _manager() as manager:
        job = manager.cancel(_job_of(manager, space, job_id).id)
    if as_json:
        return _print_json(_job_row(job))
    console.print(f"Sync job {job.id}: {job.status.value}, cancel requested.")


@sync_app.command("models")
@_handles_errors
def models(space: SpaceArg, as_json: JsonFlag = False) -> None:
    """The space's model versions, newest first, with their scores and lineage."""
    with _manager() as manager:
        versions = manager.models(space)
        lineage = {v.id: manager.lineage(v) for v in versions}
    if as_json:
        return _print_json([{**vars(v), "documents": lineage[v.id]} for v in versions])
    table = Table("", "version", "backend", "kind", "model", "before", "after", "documents", "created")
    for v in versions:
        created = v.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        table.add_row("*" if v.active else "", v.id, v.backend, v.kind, shown(v.reference), _score(v.score_before),
                      _score(v.score_after), str(len(lineage[v.id])), created)
    console.print(table)
    if not any(v.active for v in versions):
        console.print("The space uses its base model.")


@sync_app.command("activate")
@_handles_errors
def activate(space: SpaceArg, version: Annotated[str, typer.Argument(help="Model version id.")],
             force: Annotated[bool, typer.Option("--force", help="Switch to a remote model even if it is not "
                                                 "deployed yet.")] = False,
             as_json: JsonFlag = False) -> None:
    """Switch the space to a model version (an embedder version re-embeds the space)."""
    with _manager() as manager, _progress_bar(not as_json) as progress:
        activated = manager.activate(version, space, progress, force=force)
    if as_json:
        return _print_json(activated)
    console.print(f"Space '{shown(space)}' now uses model version {activated.id} ({shown(activated.reference)}).")


@sync_app.command("evaluate")
@_handles_errors
def evaluate(
    space: SpaceArg,
    version: Annotated[str, typer.Argument(help="Model version id.")],
    deployment: Annotated[str, typer.Option("--deployment", help="The deployment serving the version's model.")],
    force: Annotated[bool, typer.Option("--force", help="Activate it even if it scores worse.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate a deployed remote model version against the space's current model; activate it if it is better."""
    with _manager() as manager:
        evaluated = manager.evaluate(version, deployment, space, force=force)
        job = manager.job(evaluated.job_id or "")
    if as_json:
        return _print_json(evaluated)
    _print_outcome(job)


@sync_app.command("rollback")
@_handles_errors
def rollback(space: SpaceArg,
             to: Annotated[str | None, typer.Option("--to", help=f"Version id, or '{BASE_MODEL}'.")] = None,
             as_json: JsonFlag = False) -> None:
    """Switch back to the previous model version (or `--to` a given one, or the base model)."""
    with _manager() as manager, _progress_bar(not as_json) as progress:
        active = manager.rollback(space, to, progress)
    if as_json:
        return _print_json({"space": space, "active": active.id if active else BASE_MODEL})
    console.print(f"Space '{shown(space)}' now uses {'model version ' + active.id if active else 'its base model'}.")


@app.command("serve-events")
@_handles_errors
def serve_events(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to serve on.")] = 7071,
    address: Annotated[str, typer.Option("--address", help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Receive Azure Event Grid model events at POST /api/events and apply them to the spaces' models.

    Beyond this machine it needs `sync.event_key`: Event Grid then calls /api/events?key=<key>."""
    import uvicorn

    from lmspace_core.lm import resolve_secret
    from lmspace_core.sync.events import EventHandler, asgi_app

    with _manager(resume=True) as manager:
        sources, key_ref = manager.settings.sync.event_sources, manager.settings.sync.event_key
        if key_ref is None and address not in LOOPBACK:
            raise ConfigError(f"serve-events on {address} would act on events from anyone who can reach it: set "
                              "sync.event_key (a secret; Event Grid then calls /api/events?key=<it>) or keep "
                              "--address 127.0.0.1.")
        if not sources:
            console.print("[yellow]sync.event_sources is empty: every event except the handshake is refused.[/]")
        key = resolve_secret(key_ref) if key_ref else None
        console.print(f"Event Grid endpoint on http://{address}:{port}/api/events"
                      f"{'?key=<sync.event_key>' if key else ''} (Ctrl+C to stop)")
        uvicorn.run(asgi_app(EventHandler(manager, sources), key=key), host=address, port=port,
                    log_level="warning")


@sync_app.command("worker")
@_handles_errors
def worker(
    once: Annotated[bool, typer.Option("--once", help="Check and drain the queue once, then exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between checks.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Queue a sync of every `sync.auto_sync` space whose delta passed its threshold, and run the queued syncs."""
    from lmspace_core.sync.queue import build_queue

    with _manager(resume=True) as manager:
        queue = build_queue(manager.settings, manager.workspace.enterprise_id)
        while True:
            queued = manager.enqueue_due(queue)
            for request in queued:
                if not as_json:
                    console.print(f"queued a sync of space {request.space_id}: {shown(request.reason)}")
            jobs = manager.run_queued(queue)
            if as_json:
                _print_json({"queued": queued, "jobs": [_job_row(job) for job in jobs]})
            for job in jobs if not as_json else ():
                _print_outcome(job)
            if once:
                return
            time.sleep(interval)
