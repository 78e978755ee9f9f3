"""`lmspace dev`: tools for trying LMSpace's Azure mode on one machine, with nothing in Azure."""

from __future__ import annotations

import shlex
import signal
import threading

import typer
from rich.console import Console

from lmspace_core.errors import LMSpaceError

dev_app = typer.Typer(help="Local development tools (Azure emulators).", no_args_is_help=True)
_notes = Console(stderr=True)


@dev_app.command("emulators")
def emulators() -> None:
    """Start Azurite and the Cosmos DB emulator on free loopback ports and print the exports that use them.

    Data lives in memory and is gone when they stop (Ctrl+C). In another shell: paste the printed lines, then
    `lmspace spaces create ...` works against the emulators. The keys printed are the emulators' published ones.
    """
    from lmspace_core.emulators.launch import start_emulators

    try:
        running = start_emulators()
    except LMSpaceError as error:
        _notes.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for name, value in running.environment().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        _notes.print(
            f"Cosmos DB emulator at {running.cosmos_endpoint}, Azurite blob/queue/table on ports "
            f"{running.blob_port}/{running.queue_port}/{running.table_port}. Data is in memory. Ctrl+C stops them."
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        _notes.print("Emulators stopped.")
