"""`lmspace outbox status|replay`: writes waiting for Azure (queued while it could not be reached)."""

from __future__ import annotations

import typer
from rich.table import Table

from lmspace_core.cli import JsonFlag, _handles_errors, _print_json, _workspace, console
from lmspace_core.errors import BackendError

outbox_app = typer.Typer(help="Writes queued while Azure was unreachable: list them, send them.",
                         no_args_is_help=True)


def _outbox(workspace):
    outbox = getattr(workspace.store, "outbox", None)
    if outbox is None:
        console.print("The configured store writes locally; there is no outbox.")
        raise typer.Exit(0)
    return outbox


@outbox_app.command("status")
@_handles_errors
def status(as_json: JsonFlag = False) -> None:
    """List the queued writes, oldest first (they are sent in this order)."""
    with _workspace() as workspace:
        pending = _outbox(workspace).file.pending()
    if as_json:
        _print_json({"pending": pending})
        return
    if not pending:
        console.print("Nothing is waiting: every write reached Azure.")
        return
    table = Table("#", "queued at", "write")
    for entry in pending:
        table.add_row(str(entry.seq), entry.queued_at.strftime("%Y-%m-%d %H:%M:%S"), entry.summary)
    console.print(table)
    console.print(f"{len(pending)} change(s) waiting; `lmspace outbox replay` sends them.")


@outbox_app.command("replay")
@_handles_errors
def replay(as_json: JsonFlag = False) -> None:
    """Send the queued writes to Azure in order; stop at the first that fails (it stays queued)."""
    with _workspace() as workspace:
        report = _outbox(workspace).replay()
    if as_json:
        _print_json(report)
    else:
        console.print(f"Sent {report.replayed} queued write(s); {report.remaining} still waiting.")
    if report.remaining:
        raise BackendError(f"Replay stopped at a write Azure did not take: {report.error}")
