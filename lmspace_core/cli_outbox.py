"""`lmspace outbox status|replay`: writes waiting for Azure (queued while it could not be reached)."""

from __future__ import annotations

import typer
from rich.table import Table

from lmspace_core.cli import JsonFlag, _handles_errors, _print_json, _workspace, console, shown
from lmspace_core.errors import BackendError, NotFoundError

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
    """List the queued writes, oldest first (they are sent in this order), and those set aside as unsendable."""
    with _workspace() as workspace:
        outbox = _outbox(workspace)
        pending, set_aside = outbox.file.pending(), outbox.file.set_aside_writes()
    if as_json:
        _print_json({"pending": pending, "set_aside": set_aside})
        return
    if not pending:
        console.print("Nothing is waiting to be sent." if set_aside else
                      "Nothing is waiting: every write reached Azure.")
    else:
        table = Table("#", "queued at", "write")
        for entry in pending:
            table.add_row(str(entry.seq), entry.queued_at.strftime("%Y-%m-%d %H:%M:%S"), shown(entry.summary))
        console.print(table)
        console.print(f"{len(pending)} change(s) waiting; `lmspace outbox replay` sends them.")
    if set_aside:
        table = Table("#", "queued at", "write", "why it was set aside, and what to do", title="Set aside")
        for write in set_aside:
            table.add_row(str(write.seq), write.queued_at.strftime("%Y-%m-%d %H:%M:%S"), shown(write.summary),
                          shown(write.reason))
        console.print(table)
        console.print(f"{len(set_aside)} write(s) can never be sent as they are; once dealt with, "
                      "`lmspace outbox dismiss SEQ` forgets one.")


@outbox_app.command("replay")
@_handles_errors
def replay(as_json: JsonFlag = False) -> None:
    """Send the queued writes to Azure in order; stop when Azure cannot take one now (it stays queued). A write that
    can never succeed is set aside with its reason (see `status`) and the others go on."""
    with _workspace() as workspace:
        report = _outbox(workspace).replay()
    if as_json:
        _print_json(report)
    else:
        console.print(f"Sent {report.replayed} queued write(s); {report.remaining} still waiting.")
        if report.set_aside:
            console.print(f"{report.set_aside} write(s) set aside as unsendable: `lmspace outbox status` says why.")
    if report.remaining:
        raise BackendError(f"Replay stopped at a write Azure did not take: {report.error}")


@outbox_app.command("dismiss")
@_handles_errors
def dismiss(seq: int = typer.Argument(..., help="The number `lmspace outbox status` shows for the write.")) -> None:
    """Forget a write that was set aside, once what it says has been done another way."""
    with _workspace() as workspace:
        dismissed = _outbox(workspace).file.dismiss(seq)
    if not dismissed:
        raise NotFoundError(f"No set-aside write #{seq}; `lmspace outbox status` lists them.")
    console.print(f"Forgot set-aside write #{seq}.")
