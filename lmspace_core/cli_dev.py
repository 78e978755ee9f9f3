"""`lmspace dev`: tools for trying LMSpace's Azure mode on one machine, with nothing in Azure."""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmspace_core.errors import LMSpaceError

dev_app = typer.Typer(help="Local development tools (Azure emulators).", no_args_is_help=True)
_notes = Console(stderr=True)


@dev_app.command("emulators")
def emulators(
    data: Annotated[Path | None, typer.Option(
        "--data", file_okay=False, help="Keep the data in this folder: started again with it, the emulators have "
        "their data and the same ports (the exports stay right), e.g. to try an outage and `lmspace outbox replay`.",
    )] = None,
) -> None:
    """Start Azurite and the Cosmos DB emulator on free loopback ports and print the exports that use them.

    Data lives in memory and is gone when they stop (Ctrl+C), unless `--data` keeps it. In another shell: paste the
    printed lines, then `lmspace spaces create ...` works against the emulators. The keys printed are the emulators'
    published ones.
    """
    from lmspace_core.emulators.launch import start_emulators, start_kept_emulators

    try:
        running = start_emulators() if data is None else start_kept_emulators(data)
    except LMSpaceError as error:
        _notes.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for name, value in running.environment().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        kept = "Data is in memory." if data is None else f"Data is kept in {data}."
        _notes.print(
            f"Cosmos DB emulator at {running.cosmos_endpoint}, Azurite blob/queue/table on ports "
            f"{running.blob_port}/{running.queue_port}/{running.table_port}. {kept} Ctrl+C stops them."
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        _notes.print("Emulators stopped.")
