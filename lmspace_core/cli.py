"""The `lmspace` command: spaces, ingest, ask, documents and configuration, for people and for scripts.

Every command takes `--json` for machine-readable output. Exit codes: 0 success; 2 usage error; the error's own
`exit_code` for LMSpace errors (3 configuration, 4 not found, 5 already exists, 6 ingest failures, 7 embedder
mismatch, 8 model, 9 not available yet, 10 sandbox missing, 130 ingest cancelled by Ctrl+C, 1 anything else
LMSpace reports).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lmspace_core.domain import Answer, AnswerMode, IngestReport, Outcome, SearchFilter, Space, to_json_data
from lmspace_core.domain import Progress as WorkProgress
from lmspace_core.cli_dev import dev_app
from lmspace_core.errors import IngestCancelledError, IngestError, LMSpaceError
from lmspace_core.ingest.unread import counted_unread, unread_summary
from lmspace_core.interrupts import cancel_on_interrupt
from lmspace_core.logs import route_logs_to_data_dir
from lmspace_core.terminal import terminal_safe
from lmspace_core.workspace import Workspace

app = typer.Typer(help="LMSpace: knowledge spaces with grounded, cited answers.", no_args_is_help=True)
spaces_app = typer.Typer(help="Create, list, describe, edit, re-embed and delete spaces.", no_args_is_help=True)
docs_app = typer.Typer(help="List, show and delete the documents of a space.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
admin_app = typer.Typer(help="Administrative operations that look across enterprises.", no_args_is_help=True)
app.add_typer(spaces_app, name="spaces")
app.add_typer(docs_app, name="docs")
app.add_typer(config_app, name="config")
app.add_typer(admin_app, name="admin")
app.add_typer(dev_app, name="dev")

console = Console()
errors = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SpaceArg = Annotated[str, typer.Argument(help="Space name (or id).")]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
TypeOption = Annotated[list[str] | None, typer.Option("--type", help="Only documents of this type.")]
TagOption = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only documents with this tag.")]
WhereOption = Annotated[
    list[str] | None, typer.Option("--where", "-w", help="Only entities whose metadata has KEY=VALUE (repeatable).")
]


def _not_blank(text: str) -> str:
    """An argument that must say something: an empty question or task would only match nothing, or anything."""
    if not text.strip():
        raise typer.BadParameter("it is empty; write it out, in quotes")
    return text


def _search_filter(doc_types: list[str] | None, tags: list[str] | None, where: list[str] | None) -> SearchFilter:
    """The filter the --type, --tag and --where options describe; VALUE is read as JSON when it parses (2, true)."""
    metadata = []
    for condition in where or ():
        key, equals, text = condition.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"--where takes KEY=VALUE, e.g. type=policy (got {condition!r})")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        metadata.append((key.removeprefix("metadata."), value if isinstance(value, str | int | float | bool) else text))
    return SearchFilter(tuple(doc_types or ()), tuple(tags or ()), tuple(metadata))


class _State:
    config: Path | None = None
    enterprise: str | None = None


@app.callback()
def main(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Path to lmspace.yaml.")] = None,
    enterprise: Annotated[str | None, typer.Option("--enterprise", "-e", help="Enterprise (tenant) id.")] = None,
) -> None:
    _State.config = config
    _State.enterprise = enterprise


def shown(text: str) -> str:
    """User or document text as rich may print it: no markup, no terminal control characters."""
    return escape_markup(terminal_safe(text))


def _print_json(value: Any) -> None:
    print(json.dumps(to_json_data(value), indent=2, ensure_ascii=False))


def _handles_errors(command: Callable) -> Callable:
    """Turn LMSpace and OS errors into a one-line message and an exit code; no tracebacks for users."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LMSpaceError as error:
            # Unwrapped: scripts and editors read `file:line: key: problem` from it, and terminals wrap anyway.
            errors.print(f"[red]error:[/red] {shown(str(error))}", soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        except OSError as error:  # an unwritable data directory, a full disk: the OS message says it best
            errors.print(f"[red]error:[/red] {shown(str(error))}", soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@contextmanager
def _workspace() -> Iterator[Workspace]:
    workspace = Workspace.open(_State.config, _State.enterprise)
    route_logs_to_data_dir(workspace.settings.data_dir)
    try:
        yield workspace
    finally:
        workspace.close()


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[WorkProgress], None]]:
    """A rich progress bar fed by the core's progress events (silent when output is JSON)."""
    if not enabled:
        yield lambda _: None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[item]}"), console=errors, transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None, item="")

        def update(event: WorkProgress) -> None:
            bar.update(task, description=event.stage, completed=event.done, total=event.total,
                       item=shown(event.item or event.message))

        yield update


def _space_row(workspace: Workspace, space: Space) -> dict[str, Any]:
    stats = workspace.space_stats(space)
    return {
        "id": space.id, "name": space.name, "enterprise": space.enterprise_id, "description": space.description,
        "instructions": space.instructions, "embedder": space.embedder_id, "documents": stats.documents,
        "chunks": stats.chunks, "bytes": stats.bytes,
        "created_at": space.created_at, "updated_at": stats.last_update or space.updated_at,
    }


def _print_space(row: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key, value in row.items():
        table.add_row(f"[bold]{key}", shown(str(value)))
    console.print(table)


# -- spaces ---------------------------------------------------------------------------------------------------


@spaces_app.command("create")
@_handles_errors
def spaces_create(
    name: Annotated[str, typer.Argument(help="Name of the new space.")],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    instructions: Annotated[str, typer.Option("--instructions", "-i", help="Standing instructions for the agent.")] = "",
    enterprise: Annotated[str | None, typer.Option("--enterprise", "-e", help="Enterprise (tenant) id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a space."""
    _State.enterprise = enterprise or _State.enterprise
    with _workspace() as workspace:
        row = _space_row(workspace, workspace.create_space(name, description, instructions))
    _print_json(row) if as_json else console.print(f"Created space [bold]{shown(name)}[/] ({row['id']}).")


@spaces_app.command("list")
@_handles_errors
def spaces_list(as_json: JsonFlag = False) -> None:
    """List the spaces of the enterprise."""
    with _workspace() as workspace:
        rows = [_space_row(workspace, space) for space in workspace.list_spaces()]
        enterprise = workspace.enterprise_id
    if as_json:
        return _print_json(rows)
    if not rows:
        return console.print(f"No spaces in enterprise '{enterprise}'. Create one with `lmspace spaces create NAME`.")
    table = Table("name", "documents", "chunks", "bytes", "updated", "description", title=f"Spaces of {enterprise}")
    for row in rows:
        table.add_row(shown(row["name"]), str(row["documents"]), str(row["chunks"]), str(row["bytes"]),
                      row["updated_at"].strftime("%Y-%m-%d %H:%M"), shown(row["description"]))
    console.print(table)


@spaces_app.command("show")
@_handles_errors
def spaces_show(space: SpaceArg, as_json: JsonFlag = False) -> None:
    """Describe a space: description, instructions, embedder, counts, and which index answers its searches."""
    with _workspace() as workspace:
        target = workspace.space(space)
        row = _space_row(workspace, target)
        if (plan := workspace.search_plan(target)) is not None:
            row["search"] = plan.describe()
    _print_json(row) if as_json else _print_space(row)


@spaces_app.command("rename")
@_handles_errors
def spaces_rename(space: SpaceArg, new_name: str, as_json: JsonFlag = False) -> None:
    """Rename a space (its id, documents and history stay)."""
    with _workspace() as workspace:
        row = _space_row(workspace, workspace.update_space(workspace.space(space), name=new_name))
    _print_json(row) if as_json else console.print(f"Renamed to [bold]{shown(new_name)}[/].")


@spaces_app.command("edit")
@_handles_errors
def spaces_edit(
    space: SpaceArg,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    instructions: Annotated[str | None, typer.Option("--instructions", "-i")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a space's description or instructions."""
    with _workspace() as workspace:
        updated = workspace.update_space(workspace.space(space), description=description, instructions=instructions)
        row = _space_row(workspace, updated)
    _print_json(row) if as_json else _print_space(row)


@spaces_app.command("delete")
@_handles_errors
def spaces_delete(space: SpaceArg, yes: YesFlag = False, as_json: JsonFlag = False) -> None:
    """Delete a space with all its documents, chunks, vectors and stored files."""
    with _workspace() as workspace:
        target = workspace.space(space)
        if not yes:
            typer.confirm(f"Delete space '{target.name}' and everything in it?", abort=True)
        workspace.delete_space(target)
    _print_json({"deleted": target.id}) if as_json else console.print(f"Deleted space {shown(target.name)}.")


@spaces_app.command("reembed")
@_handles_errors
def spaces_reembed(space: SpaceArg, as_json: JsonFlag = False) -> None:
    """Re-embed every chunk of a space with the configured embedder."""
    with _workspace() as workspace, _progress_bar(not as_json) as progress:
        target = workspace.space(space)
        count = workspace.reembed_space(target, progress)
    result = {"space": target.name, "chunks": count, "embedder": workspace.embedder_id()}
    _print_json(result) if as_json else console.print(f"Re-embedded {count} chunks with {result['embedder']}.")


@spaces_app.command("index")
@_handles_errors
def spaces_index(space: SpaceArg, as_json: JsonFlag = False) -> None:
    """Build a big space's approximate (HNSW) index now; it answers only once its measured recall@10 is enough."""
    with _workspace() as workspace, _progress_bar(not as_json) as progress:
        target = workspace.space(space)
        with cancel_on_interrupt(lambda: errors.print("[yellow]Stopping the build: exact search keeps answering.")) \
                as cancel:
            plan = workspace.build_approximate_index(target, progress, cancel)
    if plan is None:
        raise LMSpaceError(f"The {workspace.settings.store.backend} store has no approximate index to build.")
    _print_json({"space": target.name, **vars(plan)}) if as_json else console.print(f"Search: {plan.describe()}")


@admin_app.command("locate")
@_handles_errors
def admin_locate(name: Annotated[str, typer.Argument(help="Space name or id.")], as_json: JsonFlag = False) -> None:
    """Find which enterprises hold a space of this name (the only command that looks across tenants)."""
    with _workspace() as workspace:
        rows = [{"enterprise": s.enterprise_id, "name": s.name, "id": s.id} for s in workspace.locate_space(name)]
    if as_json:
        return _print_json(rows)
    if not rows:
        return console.print(f"No enterprise has a space named '{shown(name)}'.")
    table = Table("enterprise", "name", "id")
    for row in rows:
        table.add_row(shown(row["enterprise"]), shown(row["name"]), row["id"])
    console.print(table)


# -- ingest ---------------------------------------------------------------------------------------------------


def _print_report(report: IngestReport) -> None:
    table = Table("source", "outcome", "chunks", "reason")
    colours = {Outcome.ADDED: "green", Outcome.REPLACED: "cyan", Outcome.UNCHANGED: "dim", Outcome.FAILED: "red",
               Outcome.SKIPPED: "yellow"}
    counted = counted_unread(report)
    hidden = set(counted)
    for item in report.files:
        if item in hidden:
            continue
        colour = colours[item.outcome]
        table.add_row(shown(item.source), f"[{colour}]{item.outcome.value}", str(item.chunks), shown(item.reason))
    console.print(table)
    summary = ", ".join(f"{report.count(outcome)} {outcome.value}" for outcome in Outcome)
    console.print(summary)
    if counted:
        console.print(f"{shown(unread_summary(counted))} (--json lists each).", soft_wrap=True)
    if report.sync_queued:
        console.print(f"Queued an automatic sync ({shown(report.sync_queued)}); `lmspace sync worker` runs it.",
                      soft_wrap=True)
    for warning in report.warnings:
        errors.print(f"[yellow]{shown(warning)}", soft_wrap=True)


@app.command()
@_handles_errors
def ingest(
    space: SpaceArg,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files, folders or .zip archives.")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Ingest this text (pasted content).")] = None,
    title: Annotated[str, typer.Option("--title", help="Document name for --text.")] = "pasted-text",
    tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag the documents (repeatable).")] = None,
    codebase: Annotated[
        bool | None, typer.Option("--codebase/--no-codebase", help="Treat folders/zips as a codebase (default: auto).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ingest files, folders, .zip codebases or pasted text into a space.

    Reads .txt .md .pdf .docx .html .csv .json and source code (.py .js .ts .java .go .rs .c .cpp .rb .sh ...).
    Also text files named like README, NEWS, changelog or copyright, and any of these gzipped (.gz).
    Plugins add more (`lmspace plugins`); other files in a folder or zip are reported as skipped.
    """
    if not paths and text is None:
        raise typer.BadParameter("give at least one path, or --text")
    cancelled = None
    with _workspace() as workspace:
        target = workspace.space(space)
        reports = []
        if text is not None:
            reports.append(workspace.ingest_text(target, title, text, tags=tags or ()))
        if paths:
            with _progress_bar(not as_json) as progress, cancel_on_interrupt(_say_stopping) as cancel:
                try:
                    reports.append(workspace.ingest(target, paths, tags=tags or (), as_codebase=codebase,
                                                    progress=progress, cancel=cancel))
                except IngestCancelledError as error:
                    cancelled = error
                    reports.append(error.report)
    report = IngestReport(space_id=target.id, files=tuple(f for r in reports for f in r.files),
                          sync_queued=next((r.sync_queued for r in reports if r.sync_queued), ""),
                          warnings=tuple(w for r in reports for w in r.warnings))
    _print_json(report) if as_json else _print_report(report)
    if cancelled is not None:
        errors.print(f"[yellow]{shown(str(cancelled))}", soft_wrap=True)
        raise typer.Exit(cancelled.exit_code)
    if report.failed:
        raise typer.Exit(IngestError.exit_code)


def _say_stopping() -> None:
    errors.print("[yellow]Stopping: the files stored so far stay stored (press Ctrl+C again to stop at once).")


# -- ask ------------------------------------------------------------------------------------------------------


def _print_answer(answer: Answer) -> None:
    style = {AnswerMode.GENERATED: "", AnswerMode.EXTRACTED: "yellow", AnswerMode.NOT_FOUND: "red"}[answer.mode]
    console.print(f"[{style}]{shown(answer.text)}" if style else shown(answer.text))
    if answer.citations and answer.mode is AnswerMode.GENERATED:
        console.print()
        for cited in answer.citations:
            where = cited.location.describe()
            console.print(f"[bold][{cited.number}][/] {shown(cited.source)}" + (f" ({shown(where)})" if where else ""))
            console.print(f"    [dim]{shown(' '.join(cited.quote.split())[:300])}")
    if answer.offline_notice:
        console.print(f"\n[yellow]{answer.offline_notice}")


@app.command()
@_handles_errors
def ask(
    space: SpaceArg,
    question: Annotated[str, typer.Argument(help="Your question.", callback=_not_blank)],
    doc_type: TypeOption = None,
    tags: TagOption = None,
    where: WhereOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask a question; the answer cites the passages it comes from."""
    from lmspace_core.agents.knowledge import KnowledgeAgent

    with _workspace() as workspace:
        agent = KnowledgeAgent(workspace)
        answer = agent.query(question, workspace.space(space), search_filter=_search_filter(doc_type, tags, where))
    _print_json(answer) if as_json else _print_answer(answer)


# -- research -------------------------------------------------------------------------------------------------


@app.command()
@_handles_errors
def research(
    target: Annotated[str, typer.Argument(
        help="A space name, a folder or a .zip of code (a bare name is a space: ./NAME for a folder of that name).")],
    task: Annotated[str, typer.Argument(help='What to find, e.g. "Find print statements".', callback=_not_blank)],
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Print the plan and stop.")] = False,
    plan_file: Annotated[Path | None, typer.Option(
        "--plan", help="Run this (edited) plan JSON file.", exists=True, dir_okay=False, readable=True)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Research a codebase: plan, run, verify every finding against the files."""
    from lmspace_core.agents.research.researcher import CodebaseResearcher
    from lmspace_core.research.plan import ResearchPlan

    with _workspace() as workspace:
        researcher = CodebaseResearcher(workspace)
        codebase, space = researcher.codebase(target)
        if plan_file is not None:
            plan = ResearchPlan.from_json(plan_file.read_text())
        else:
            plan = researcher.plan(task, codebase, space)
        if plan_only:
            print(plan.to_json()) if as_json else console.print_json(plan.to_json())
            return
        with _progress_bar(not as_json) as progress:
            result = researcher.run(plan, codebase, space, progress)
    if as_json:
        return _print_json(result.to_json_data())
    console.print(f"[bold]Plan[/] ({plan.planner}): {plan.strategy} — {shown(plan.rationale)}")
    for finding in result.findings:
        console.print(f"[cyan]{shown(finding.location)}[/]  [dim]{shown(finding.note)}")
        console.print("    " + shown(finding.text.strip().splitlines()[0] if finding.text.strip() else ""))
    if result.rejected:
        console.print(f"[yellow]{len(result.rejected)} unverifiable findings were dropped.")
    console.print(shown(result.summary))
    stats = result.stats
    console.print(f"[dim]{stats.files} files, {stats.bytes:,} bytes, {stats.lm_calls} model calls, "
                  f"{stats.tokens} tokens, {stats.seconds:.1f} s")
    if result.offline_notice:
        console.print(f"[yellow]{result.offline_notice}")


# -- documents ------------------------------------------------------------------------------------------------


@docs_app.command("list")
@_handles_errors
def docs_list(
    space: SpaceArg,
    doc_type: TypeOption = None,
    tags: TagOption = None,
    where: WhereOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the documents of a space."""
    with _workspace() as workspace:
        documents = workspace.documents(workspace.space(space), _search_filter(doc_type, tags, where))
    if as_json:
        return _print_json(documents)
    # On an 80-column terminal a full grid cut every name to 'bash/REA…' and every id to 8 characters: names fold
    # instead, ids stay whole, and the table draws no vertical lines, shows dates only and tags only when used.
    tagged = any(doc.tags for doc in documents)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("source", overflow="fold", ratio=1)
    for column in ("type", "v", "chunks", "bytes", *(["tags"] if tagged else []), "updated", "id"):
        table.add_column(column, no_wrap=column != "tags")
    for doc in documents:
        table.add_row(shown(doc.source), doc.doc_type, str(doc.version), str(doc.chunk_count), str(doc.size_bytes),
                      *([shown(", ".join(doc.tags))] if tagged else []), doc.updated_at.strftime("%Y-%m-%d"), doc.id)
    console.print(table)


@docs_app.command("show")
@_handles_errors
def docs_show(
    space: SpaceArg, document: Annotated[str, typer.Argument(help="Document source name or id.")], as_json: JsonFlag = False
) -> None:
    """Show a document's chunks with their locations."""
    with _workspace() as workspace:
        target = workspace.space(space)
        doc = workspace.document(target, document)
        chunks = workspace.chunks(target, doc)
    if as_json:
        return _print_json({"document": doc, "chunks": chunks})
    console.print(f"[bold]{shown(doc.source)}[/] — {doc.doc_type}, version {doc.version}, {len(chunks)} chunks")
    for chunk in chunks:
        console.rule(f"#{chunk.ordinal} {shown(chunk.location.describe())}")
        console.print(shown(chunk.text))


@docs_app.command("delete")
@_handles_errors
def docs_delete(
    space: SpaceArg,
    document: Annotated[str, typer.Argument(help="Document source name or id.")],
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a document with its chunks, vectors and stored file."""
    with _workspace() as workspace:
        target = workspace.space(space)
        doc = workspace.document(target, document)
        if not yes:
            typer.confirm(f"Delete '{terminal_safe(doc.source)}' from space '{target.name}'?", abort=True)
        workspace.delete_document(target, doc)
    _print_json({"deleted": doc.id, "source": doc.source}) if as_json else console.print(f"Deleted {shown(doc.source)}.")


# -- config ---------------------------------------------------------------------------------------------------


@config_app.command("check")
@_handles_errors
def config_check(as_json: JsonFlag = False) -> None:
    """Validate the configuration and show the effective settings (secrets masked)."""
    from lmspace_core.config import load_config
    from lmspace_core.lm import describe_lm
    from lmspace_core.plugins import check_settings

    settings = load_config(_State.config)
    check_settings(settings)
    result = {"source": settings.source, "language_model": describe_lm(settings.lm), "settings": settings.masked_dict()}
    if as_json:
        return _print_json(result)
    console.print(f"[green]Configuration is valid[/] (from {shown(settings.source)}).")
    console.print(f"Language model: {shown(result['language_model'])}")
    console.print_json(json.dumps(to_json_data(result["settings"])))


@app.command()
@_handles_errors
def doctor(as_json: JsonFlag = False) -> None:
    """Check the store (embedded: database, vector files, raw files; Azure: raw files, jobs) and remove what killed
    processes left behind."""
    from lmspace_core.config import load_config
    from lmspace_core.doctor import examine

    report = examine(load_config(_State.config))
    if as_json:
        _print_json({"ok": report.ok, **to_json_data(report)})
    else:
        for check in report.checks:
            console.print(f"{'[green]ok[/]' if check.ok else '[red]problem[/]'} {check.name}: {shown(check.summary)}")
            for line in check.fixed:
                console.print(f"  [yellow]fixed[/] {shown(line)}")
            for line in check.problems:
                console.print(f"  [red]problem[/] {shown(line)}")
    if not report.ok:
        raise typer.Exit(1)


# -- dashboard ------------------------------------------------------------------------------------------------


@app.command()
@_handles_errors
def ui(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="Address to bind (default: this machine only).")] = "127.0.0.1",
) -> None:
    """Start the dashboard (the same as `streamlit run Home.py`)."""
    import os

    from lmspace_ui.launch import HOME, dashboard_command, port_is_free

    if not HOME.is_file():
        raise LMSpaceError(f"The dashboard files are not beside this installation ({HOME} is missing); "
                           "run `uv run streamlit run Home.py` from a checkout of LMSpace.")
    if _State.config is not None:
        os.environ["LMSPACE_CONFIG"] = str(_State.config.resolve())
    if _State.enterprise is not None:
        os.environ["LMSPACE_ENTERPRISE"] = _State.enterprise
    if not port_is_free(port, address):
        raise LMSpaceError(f"Port {port} on {address} is in use (a dashboard already running, or another program); "
                           f"open that one, or start on another port: `lmspace ui --port {port + 1}`.")
    console.print(f"LMSpace dashboard on http://{address}:{port} (Ctrl+C to stop)")
    # The server replaces this process (no child left behind): stopping `lmspace ui` with SIGTERM, as a service
    # manager or a test does, stops the dashboard; with a child process it kept serving, orphaned.
    os.chdir(HOME.parent)
    command = dashboard_command(port, address)
    os.execv(command[0], command)


from lmspace_core.cli_sync import sync_app  # noqa: E402  (it imports this module's helpers)

app.add_typer(sync_app, name="sync")

from lmspace_core.cli_optimize import examples_app, optimize  # noqa: E402  (it imports this module's helpers)

app.add_typer(examples_app, name="examples")
app.command()(optimize)

from lmspace_core.cli_migrate import migrate  # noqa: E402  (it imports this module's helpers)

app.command()(migrate)

from lmspace_core.cli_outbox import outbox_app  # noqa: E402  (it imports this module's helpers)

app.add_typer(outbox_app, name="outbox")

from lmspace_core.cli_jobs import jobs_app  # noqa: E402  (it imports this module's helpers)

app.add_typer(jobs_app, name="jobs")

from lmspace_core.cli_plugins import plugins  # noqa: E402  (it imports this module's helpers)

app.command()(plugins)
