"""Probe: hostile names and content reach neither the terminal nor the store unchecked; messages name what to fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fpdf import FPDF
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.errors import InvalidNameError
from tests.conftest import write_config

ESCAPES = ("\x1b]0;pwned\x07", "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J", "\x1b[8m")


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def run(config: Path, *args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(app, ["--config", str(config), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# -- names ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trail\n", "\nlead", "tab\there", "x" * 65])
def test_a_space_name_breaking_the_rules_is_refused(workspace, name):
    with pytest.raises(InvalidNameError):
        workspace.create_space(name)
    assert workspace.list_spaces() == []


def test_a_name_and_the_same_name_with_a_newline_cannot_coexist(config_path):
    assert run(config_path, "spaces", "create", "trail").exit_code == 0
    refused = run(config_path, "spaces", "create", "trail\n")
    assert refused.exit_code == 2, refused.output
    assert "not a valid space name" in refused.stderr


def test_an_invalid_name_is_a_usage_error_and_is_not_echoed_in_full(config_path):
    result = run(config_path, "spaces", "create", "a" + "!" * 10_000)
    assert result.exit_code == 2
    assert "not a valid space name" in result.stderr
    assert "10,001 characters" in result.stderr
    assert len(result.stderr) < 500


def test_an_invalid_enterprise_flag_is_a_usage_error(config_path):
    result = run(config_path, "--enterprise", "acme\n", "spaces", "list")
    assert result.exit_code == 2
    assert "not a valid enterprise id" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value"), [("enterprise", "Acme Corp"), ("enterprise", "acme/"), ("default_space", "bad/name")]
)
def test_config_check_rejects_a_name_every_command_would_reject(tmp_path, setting, value):
    config = write_config(tmp_path, f"{setting}: {json.dumps(value)}\n")
    result = run(config, "config", "check")
    assert result.exit_code == 3
    assert "valid" not in result.stdout
    assert re.search(rf"{re.escape(str(config))}:\d+: {setting}: '.*' is not a valid", result.stderr), result.stderr


# -- terminal escapes ------------------------------------------------------------------------------------------


@pytest.fixture
def hostile_space(config_path: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "evil\x1b]0;pwned\x07.txt").write_text(
        "Retention of invoices is seven years. " + " ".join(f"{code}hidden" for code in ESCAPES) + "\n"
    )
    (folder / "tool\x1b]0;pwned\x07.py").write_text('print("\x1b[31mred")\n')  # what research names
    assert run(config_path, "spaces", "create", "docs").exit_code == 0
    ingested = run(config_path, "ingest", "docs", str(folder))
    assert ingested.exit_code == 0, ingested.output
    assert "\x1b]" not in ingested.output
    return config_path


@pytest.mark.parametrize(
    "command",
    [
        ["docs", "list", "docs"],
        ["docs", "show", "docs", "drop/evil\x1b]0;pwned\x07.txt"],
        ["ask", "docs", "How long are invoices kept?"],
        ["research", "docs", "Find print statements"],
    ],
)
def test_no_escape_sequence_reaches_the_terminal(hostile_space, command):
    result = run(hostile_space, *command, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b" in result.output  # shown, not silently dropped


def test_json_output_keeps_names_and_text_exact(hostile_space):
    documents = json.loads(run(hostile_space, "docs", "list", "docs", "--json").stdout)
    assert sorted(document["source"] for document in documents) == [
        "drop/evil\x1b]0;pwned\x07.txt", "drop/tool\x1b]0;pwned\x07.py"]
    answer = json.loads(run(hostile_space, "ask", "docs", "How long are invoices kept?", "--json").stdout)
    assert any("\x1b[2J" in citation["quote"] for citation in answer["citations"])


# -- messages ---------------------------------------------------------------------------------------------------


def test_config_check_masks_a_password_inside_an_api_base(tmp_path):
    config = write_config(
        tmp_path,
        "lm:\n  provider: litellm\n  model: ollama_chat/qwen\n"
        "  api_base: http://bob:hunter2@127.0.0.1:11434/v1?api-key=s3cr3t-value\n",
    )
    for args in (["config", "check"], ["config", "check", "--json"]):
        result = run(config, *args)
        assert result.exit_code == 0, result.output
        assert "hunter2" not in result.output and "s3cr3t" not in result.output
        assert "127.0.0.1:11434" in result.output


def test_library_warnings_stay_out_of_json_mode(config_path, tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Retention is seven years.")
    # A wrong startxref offset: pypdf recovers the text and logs a warning about it.
    damaged = re.sub(rb"startxref\s+\d+", b"startxref\n999", bytes(pdf.output()))
    (tmp_path / "damaged.pdf").write_bytes(damaged)
    assert run(config_path, "spaces", "create", "docs").exit_code == 0
    result = run(config_path, "ingest", "docs", str(tmp_path / "damaged.pdf"), "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["files"][0]["outcome"] == "added"
    log = (tmp_path / "home" / "logs" / "lmspace.log").read_text()
    assert "startxref" in log


def test_the_file_size_error_names_the_setting_a_user_can_change(tmp_path):
    config = write_config(tmp_path, "ingest:\n  max_file_mb: 1\n")
    (tmp_path / "big.txt").write_text("word " * 300_000)
    assert run(config, "spaces", "create", "docs").exit_code == 0
    result = run(config, "ingest", "docs", str(tmp_path / "big.txt"), "--json")
    [failed] = json.loads(result.stdout)["files"]
    assert "ingest.max_file_mb" in failed["reason"] and "max_file_bytes" not in failed["reason"]


def test_space_names_differing_only_by_case_cannot_coexist(workspace, backend):
    from lmspace_core.errors import AlreadyExistsError

    debian = workspace.create_space("Debian Docs")
    python = workspace.create_space("python docs")
    with pytest.raises(AlreadyExistsError, match="'Debian Docs' already exists .*ignoring case"):
        workspace.create_space("debian docs")
    with pytest.raises(AlreadyExistsError, match="'Debian Docs' already exists"):
        workspace.update_space(python, name="DEBIAN DOCS")
    assert workspace.update_space(debian, name="debian docs").name == "debian docs"  # its own name, recased
    assert sorted(space.name for space in workspace.list_spaces()) == ["debian docs", "python docs"]
