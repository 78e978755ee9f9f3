"""`lmspace jobs list|show`: the background jobs (dashboard uploads, research, index builds) and their progress."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lmspace_core.cli import JsonFlag, _handles_errors, _print_json, _workspace, console, shown

jobs_app = typer.Typer(help="Background jobs (dashboard uploads, research, index builds): list them, show one.",
                       no_args_is_help=True)


@jobs_app.command("list")
@_handles_errors
def jobs_list(
    space: Annotated[str | None, typer.Argument(help="Space name (or id); without it, every space's jobs.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (ingest, research, index).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many of the newest jobs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first (on Azure, also those recorded on this machine while Table Storage was unreachable)."""
    with _workspace() as workspace:
        space_id = workspace.space(space).id if space else None
        workspace.jobs  # starting the runner marks the jobs of stopped processes interrupted
        jobs = workspace.job_store.list_jobs(workspace.enterprise_id, space_id, kind, limit)
    if as_json:
        return _print_json(jobs)
    if not jobs:
        where = f"space '{shown(space)}'" if space else f"enterprise '{shown(workspace.enterprise_id)}'"
        return console.print(f"No jobs in {where}{f' of kind {shown(kind)}' if kind else ''}. Jobs are the work that "
                             "runs in the background: the dashboard's uploads and research, and index builds; "
                             "`lmspace ingest` and `lmspace research` run in the foreground and are not jobs.",
                             soft_wrap=True)
    table = Table("id", "kind", "status", "done", "title", "started", "error")
    for job in jobs:
        done = f"{job.done}/{job.total}" if job.total else str(job.done)
        table.add_row(job.id, job.kind, job.status.value, done, shown(job.title),
                      job.created_at.astimezone().strftime("%Y-%m-%d %H:%M"), shown(job.error))
    console.print(table)


@jobs_app.command("show")
@_handles_errors
def jobs_show(job_id: Annotated[str, typer.Argument(help="The job's id (from `lmspace jobs list`).")],
              as_json: JsonFlag = False) -> None:
    """Show one job and its progress events."""
    with _workspace() as workspace:
        job = workspace.job_store.get_job(workspace.enterprise_id, job_id)
        events = workspace.job_store.job_events(workspace.enterprise_id, job_id)
    if as_json:
        return _print_json({"job": job, "events": events})
    console.print(f"{shown(job.title)} ({job.kind}): {job.status.value}", soft_wrap=True)
    if job.error:
        console.print(shown(job.error), soft_wrap=True)
    table = Table("#", "at", "stage", "done", "item", "message")
    for event in events:
        done = f"{event.done}/{event.total}" if event.total else str(event.done)
        table.add_row(str(event.sequence), event.at.astimezone().strftime("%H:%M:%S"), event.stage, done,
                      shown(event.item), shown(event.message))
    console.print(table)
