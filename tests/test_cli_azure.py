"""The CLI round trip on the Azure backend, configured only by what `lmspace dev emulators` prints."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.emulators.launch import azurite_command
from tests.conftest import skip_unless_installed
from tests.test_cli import LAPTOPS, RETENTION


def _start_dev_emulators(*options: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """`lmspace dev emulators` running, and the `export` lines it printed."""
    process = subprocess.Popen([str(Path(sys.executable).parent / "lmspace"), "dev", "emulators", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    exports = {}
    while len(exports) < 4:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        name, _, value = line.removeprefix("export ").strip().partition("=")
        exports[name] = shlex.split(value)[0]
    return process, exports


def _stop(process: subprocess.Popen) -> None:
    """Ctrl+C, as a person stops them."""
    process.send_signal(subprocess.signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert "Emulators stopped." in process.stderr.read()


@pytest.fixture
def exported(monkeypatch, tmp_path: Path):
    """Start `lmspace dev emulators`, apply the `export` lines it prints, stop it (Ctrl+C) afterwards."""
    skip_unless_installed(azurite_command() is not None, "Azurite", "npm ci")
    process, exports = _start_dev_emulators()
    try:
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LMSPACE_HOME", str(tmp_path / "home"))
        yield exports
    finally:
        _stop(process)


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result


def test_spaces_ingest_ask_docs_and_research_on_the_emulators(exported, tmp_path: Path):
    assert exported["LMSPACE_STORE__BACKEND"] == "azure"
    folder = tmp_path / "docs"
    (folder / "tool").mkdir(parents=True)
    (folder / "retention.md").write_text(RETENTION)
    (folder / "laptops.txt").write_text(LAPTOPS)
    (folder / "tool" / "main.py").write_text('def main():\n    print("hi")\n')
    run("spaces", "create", "policies")
    report = json.loads(run("ingest", "policies", str(folder), "--json").stdout)
    assert {f["outcome"] for f in report["files"]} == {"added"}
    answer = json.loads(run("ask", "policies", "How long are invoices kept?", "--json").stdout)
    assert answer["mode"] != "not_found"
    assert answer["citations"][0]["source"] == "docs/retention.md"
    assert "seven years" in answer["text"]
    documents = json.loads(run("docs", "list", "policies", "--json").stdout)
    assert sorted(d["source"] for d in documents) == ["docs/laptops.txt", "docs/retention.md", "docs/tool/main.py"]
    run("docs", "delete", "policies", "docs/laptops.txt", "--yes")
    remaining = json.loads(run("docs", "list", "policies", "--json").stdout)
    assert sorted(d["source"] for d in remaining) == ["docs/retention.md", "docs/tool/main.py"]
    findings = json.loads(run("research", "policies", "Find print statements", "--json").stdout)["findings"]
    assert [(f["path"], f["line"]) for f in findings] == [("docs/tool/main.py", 2)]


def test_dev_emulators_with_a_data_folder_come_back_on_the_same_ports_with_their_data(tmp_path, monkeypatch):
    """What a person needs to try an outage by hand: stop the emulators mid-ingest, start them again, replay."""
    skip_unless_installed(azurite_command() is not None, "Azurite", "npm ci")
    monkeypatch.setenv("LMSPACE_HOME", str(tmp_path / "home"))
    process, exports = _start_dev_emulators("--data", str(tmp_path / "emulators"))
    try:
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        run("spaces", "create", "kept")
    finally:
        _stop(process)
    process, again = _start_dev_emulators("--data", str(tmp_path / "emulators"))
    try:
        assert again == exports  # the same ports: the shell's exports and the outbox still point at them
        assert [space["name"] for space in json.loads(run("spaces", "list", "--json").stdout)] == ["kept"]
    finally:
        _stop(process)
