"""The `lmspace` command as people and scripts use it: spaces, ingest, ask, documents, config and exit codes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lmspace_core.cli import app
from tests.conftest import write_config

RETENTION = """# Data Retention

## Financial records
Invoices and ledgers are kept for seven years after the end of the fiscal year.

## Chat messages
Team chat messages are deleted automatically after 90 days.
"""

LAPTOPS = "Laptops must use full-disk encryption at all times.\nLost laptops are reported to IT within one hour.\n"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def lmspace(config_path: Path):
    """Run `lmspace --config <config> ARGS...`; `input` answers prompts."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(app, ["--config", str(config_path), *args], input=input)
        assert "Traceback" not in result.output
        # CliRunner swallows exceptions; anything but a deliberate exit is a crash a user would see as a traceback.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


@pytest.fixture
def docs_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "retention.md").write_text(RETENTION)
    (folder / "laptops.txt").write_text(LAPTOPS)
    return folder


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- spaces ---------------------------------------------------------------------------------------------------


def test_a_created_space_is_listed_in_its_enterprise(lmspace):
    created = lmspace("spaces", "create", "policies", "-d", "Company policies", "-i", "Answer briefly.",
                      "--enterprise", "acme")
    assert created.exit_code == 0, created.output
    [row] = as_json(lmspace("--enterprise", "acme", "spaces", "list", "--json"))
    assert (row["name"], row["enterprise"], row["description"], row["instructions"]) == (
        "policies", "acme", "Company policies", "Answer briefly.")
    assert (row["documents"], row["chunks"]) == (0, 0)


def test_a_space_of_another_enterprise_is_not_listed(lmspace):
    lmspace("spaces", "create", "policies", "--enterprise", "acme")
    assert as_json(lmspace("--enterprise", "globex", "spaces", "list", "--json")) == []


def test_show_describes_a_space(lmspace):
    lmspace("spaces", "create", "policies", "-d", "Company policies", "-i", "Answer briefly.")
    row = as_json(lmspace("spaces", "show", "policies", "--json"))
    assert (row["name"], row["description"], row["instructions"]) == ("policies", "Company policies", "Answer briefly.")
    assert row["embedder"] and row["id"]


def test_renaming_keeps_the_space_id(lmspace):
    space_id = as_json(lmspace("spaces", "create", "policies", "--json"))["id"]
    assert lmspace("spaces", "rename", "policies", "handbook").exit_code == 0
    row = as_json(lmspace("spaces", "show", "handbook", "--json"))
    assert (row["id"], row["name"]) == (space_id, "handbook")
    assert lmspace("spaces", "show", "policies").exit_code == 4


def test_edit_changes_only_the_instructions_given(lmspace):
    lmspace("spaces", "create", "policies", "-d", "Company policies", "-i", "Answer briefly.")
    row = as_json(lmspace("spaces", "edit", "policies", "--instructions", "Cite every claim.", "--json"))
    assert (row["instructions"], row["description"]) == ("Cite every claim.", "Company policies")


def test_delete_with_yes_removes_the_space(lmspace):
    lmspace("spaces", "create", "policies")
    assert lmspace("spaces", "delete", "policies", "--yes").exit_code == 0
    assert as_json(lmspace("spaces", "list", "--json")) == []


def test_delete_answered_no_at_the_prompt_deletes_nothing(lmspace):
    lmspace("spaces", "create", "policies")
    result = lmspace("spaces", "delete", "policies", input="n\n")
    assert "Delete space 'policies'" in result.output
    assert result.exit_code != 0
    assert [row["name"] for row in as_json(lmspace("spaces", "list", "--json"))] == ["policies"]


def test_a_duplicate_space_name_exits_5_naming_the_space(lmspace):
    lmspace("spaces", "create", "policies")
    result = lmspace("spaces", "create", "policies")
    assert result.exit_code == 5
    assert "policies" in result.stderr


def test_an_unknown_space_exits_4_with_the_create_hint(lmspace):
    result = lmspace("spaces", "show", "nowhere")
    assert result.exit_code == 4
    assert "`lmspace spaces create 'nowhere'`" in result.stderr


def test_a_space_created_for_an_enterprise_is_used_with_that_enterprise(lmspace, docs_folder):
    assert lmspace("spaces", "create", "acme-policies", "--enterprise", "acme").exit_code == 0
    assert lmspace("ingest", "acme-policies", str(docs_folder)).exit_code == 4
    report = as_json(lmspace("-e", "acme", "ingest", "acme-policies", str(docs_folder), "--json"))
    assert {f["outcome"] for f in report["files"]} == {"added"}
    [row] = as_json(lmspace("-e", "acme", "spaces", "list", "--json"))
    assert row["documents"] == 2


# -- configuration errors -------------------------------------------------------------------------------------


def test_bad_yaml_syntax_exits_3_naming_the_file_and_line(tmp_path):
    config = write_config(tmp_path, "retrieval:\n  top_k: 5\n  bad: [5\n")
    result = CliRunner().invoke(app, ["--config", str(config), "spaces", "list"])
    assert result.exit_code == 3
    assert re.search(rf"{re.escape(str(config))}:\d+:\d+: invalid YAML", result.stderr), result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_key_exits_3_naming_the_file_and_line(tmp_path):
    config = write_config(tmp_path, "retrieval:\n  top_kk: 5\n")
    result = CliRunner().invoke(app, ["--config", str(config), "spaces", "list"])
    assert result.exit_code == 3
    # On one line however long the path, so editors and scripts can jump to it.
    assert f"error: {config}:3: retrieval.top_kk: unknown key" in result.stderr
    assert "Traceback" not in result.output


# -- ingest ---------------------------------------------------------------------------------------------------


def test_ingesting_a_folder_reports_each_file_as_json(lmspace, docs_folder):
    space_id = as_json(lmspace("spaces", "create", "policies", "--json"))["id"]
    report = as_json(lmspace("ingest", "policies", str(docs_folder), "--json"))
    assert set(report) == {"space_id", "files", "sync_queued", "warnings"} and report["space_id"] == space_id
    # A folder's files are named by their path from the folder's parent, so the folder name stays visible.
    assert sorted(f["source"] for f in report["files"]) == ["docs/laptops.txt", "docs/retention.md"]
    for item in report["files"]:
        assert set(item) == {"source", "outcome", "chunks", "reason", "document_id"}
        assert item["outcome"] == "added" and item["chunks"] > 0 and item["document_id"]


def test_a_folder_with_one_bad_file_exits_6_and_adds_the_others(lmspace, docs_folder):
    (docs_folder / "empty.txt").write_text("")
    lmspace("spaces", "create", "policies")
    result = lmspace("ingest", "policies", str(docs_folder), "--json")
    assert result.exit_code == 6
    outcomes = {f["source"]: f for f in json.loads(result.stdout)["files"]}
    assert outcomes["docs/empty.txt"]["outcome"] == "failed" and outcomes["docs/empty.txt"]["reason"]
    assert outcomes["docs/retention.md"]["outcome"] == outcomes["docs/laptops.txt"]["outcome"] == "added"


def test_pasted_text_is_ingested_under_its_title(lmspace):
    lmspace("spaces", "create", "policies")
    report = as_json(lmspace("ingest", "policies", "--text", LAPTOPS, "--title", "note", "--json"))
    [item] = report["files"]
    assert (item["source"], item["outcome"]) == ("note.md", "added")


def test_ingest_without_paths_or_text_is_a_usage_error(lmspace):
    lmspace("spaces", "create", "policies")
    assert lmspace("ingest", "policies").exit_code == 2


@pytest.mark.parametrize("command", [("ask", "policies", " "), ("research", "policies", ""),
                                     ("research", "policies", "Find print statements", "--plan", "no-such-plan.json")])
def test_an_empty_question_or_task_and_a_missing_plan_file_are_usage_errors(lmspace, command):
    """`ask SPACE ""` answered 'Not found' with exit 0, an empty task ran a search for nothing, and a missing plan
    file printed the bare OS error."""
    lmspace("spaces", "create", "policies")
    result = lmspace(*command)
    assert result.exit_code == 2
    assert "it is empty" in result.output or "no-such-plan.json' does not exist" in result.output


def test_ui_on_a_port_in_use_says_so_instead_of_announcing_a_dashboard(lmspace):
    """It printed 'LMSpace dashboard on http://127.0.0.1:PORT' (another program's port) before Streamlit gave up."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = lmspace("ui", "--port", str(port))
    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 is in use" in result.output and "LMSpace dashboard on" not in result.output


def test_documents_listed_by_tag_are_only_the_tagged_ones(lmspace, docs_folder):
    lmspace("spaces", "create", "policies")
    lmspace("ingest", "policies", str(docs_folder / "laptops.txt"), "--tag", "security")
    lmspace("ingest", "policies", str(docs_folder / "retention.md"))
    tagged = as_json(lmspace("docs", "list", "policies", "--tag", "security", "--json"))
    assert [(doc["source"], doc["tags"]) for doc in tagged] == [("laptops.txt", ["security"])]
    assert len(as_json(lmspace("docs", "list", "policies", "--json"))) == 2


def test_reingesting_the_same_folder_leaves_everything_unchanged(lmspace, docs_folder):
    lmspace("spaces", "create", "policies")
    lmspace("ingest", "policies", str(docs_folder))
    report = as_json(lmspace("ingest", "policies", str(docs_folder), "--json"))
    assert [f["outcome"] for f in report["files"]] == ["unchanged", "unchanged"]


# -- ask ------------------------------------------------------------------------------------------------------


@pytest.fixture
def policies(lmspace, docs_folder) -> str:
    lmspace("spaces", "create", "policies")
    assert lmspace("ingest", "policies", str(docs_folder)).exit_code == 0
    return "policies"


def test_without_a_model_ask_answers_with_cited_extracted_sentences(lmspace, policies):
    answer = as_json(lmspace("ask", policies, "How long are team chat messages kept?", "--json"))
    assert answer["mode"] == "extracted"
    assert answer["citations"]
    first = answer["citations"][0]
    assert set(first) == {"number", "document_id", "source", "location", "quote", "score", "ordinal", "passage"}
    assert first["quote"] in first["passage"]
    assert (first["number"], first["source"]) == (1, "docs/retention.md")
    assert "90 days" in first["quote"]


def test_an_unrelated_question_is_not_found(lmspace, policies):
    answer = as_json(lmspace("ask", policies, "Which football club won the 1998 cup final?", "--json"))
    assert (answer["mode"], answer["citations"]) == ("not_found", [])


# -- documents ------------------------------------------------------------------------------------------------


def test_docs_list_shows_each_document_with_its_chunk_count(lmspace, policies):
    documents = as_json(lmspace("docs", "list", policies, "--json"))
    assert sorted(doc["source"] for doc in documents) == ["docs/laptops.txt", "docs/retention.md"]
    assert all(doc["chunk_count"] > 0 and doc["version"] == 1 for doc in documents)


def test_docs_show_gives_the_chunks_with_their_locations(lmspace, policies):
    shown = as_json(lmspace("docs", "show", policies, "docs/retention.md", "--json"))
    assert shown["document"]["source"] == "docs/retention.md"
    assert len(shown["chunks"]) == shown["document"]["chunk_count"]
    headings = [chunk["location"]["heading"] for chunk in shown["chunks"]]
    assert any("Chat messages" in (heading or "") for heading in headings)


def test_docs_delete_removes_the_document(lmspace, policies):
    deleted = as_json(lmspace("docs", "delete", policies, "docs/retention.md", "--yes", "--json"))
    assert deleted["source"] == "docs/retention.md"
    assert [doc["source"] for doc in as_json(lmspace("docs", "list", policies, "--json"))] == ["docs/laptops.txt"]
    assert lmspace("docs", "show", policies, "docs/retention.md").exit_code == 4


# -- config ---------------------------------------------------------------------------------------------------


def test_config_check_shows_the_effective_settings_with_secrets_masked(tmp_path):
    key = "sk-abcdefghijklmnop1234"
    config = write_config(tmp_path, f"lm:\n  provider: openai\n  model: gpt-4o-mini\n  api_key: {key}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "config", "check", "--json"])
    checked = as_json(result)
    assert checked["source"] == str(config)
    assert "gpt-4o-mini" in checked["language_model"]
    assert checked["settings"]["lm"]["model"] == "gpt-4o-mini"
    assert checked["settings"]["lm"]["api_key"]
    assert key not in result.output


# -- the installed command ------------------------------------------------------------------------------------


def test_the_installed_command_lists_its_commands():
    script = Path(sys.executable).parent / "lmspace"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("spaces", "ingest", "ask", "docs", "config"):
        assert command in result.stdout


# -- research -------------------------------------------------------------------------------------------------


@pytest.fixture
def code_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tool"
    (folder / "tool").mkdir(parents=True)
    (folder / "pyproject.toml").write_text("[project]\nname = 'tool'\n")
    (folder / "tool" / "main.py").write_text('def main():\n    print("hi")\n    # print("no")\n')
    return folder


def test_research_json_has_the_plan_findings_summary_and_stats(lmspace, code_folder):
    data = as_json(lmspace("research", str(code_folder), "Find print statements", "--json"))
    assert set(data) == {"plan", "findings", "rejected", "summary", "stats", "cached_at"}
    assert data["plan"]["strategy"] == "pattern"
    assert data["findings"] == [{"path": "tool/tool/main.py", "line": 2, "column": 5, "end_line": 2,
                                 "text": '    print("hi")', "note": "call to print"}]
    assert set(data["stats"]) == {"files", "bytes", "lm_calls", "tokens", "seconds"}


def test_research_lists_each_finding_as_path_line_column(lmspace, code_folder):
    (code_folder / "tool" / "main.py").write_text('def main():\n    print("a"); print("b")\n')
    result = lmspace("research", str(code_folder), "Find print statements")
    assert "tool/tool/main.py:2:5" in result.stdout and "tool/tool/main.py:2:17" in result.stdout


def test_research_plan_only_prints_a_plan_that_runs_when_given_back(lmspace, code_folder, tmp_path: Path):
    plan = as_json(lmspace("research", str(code_folder), "where is main defined", "--plan-only", "--json"))
    assert plan["pattern"] == {"kind": "definition", "name": "main", "regex": None, "code_only": True, "note": None}
    edited = tmp_path / "plan.json"
    edited.write_text(json.dumps({**plan, "pattern": {"kind": "call", "name": "print"}}))
    data = as_json(lmspace("research", str(code_folder), "ignored", "--plan", str(edited), "--json"))
    assert [f["line"] for f in data["findings"]] == [2]


def test_research_over_an_ingested_space_names_files_as_research_over_the_folder(lmspace, code_folder):
    lmspace("spaces", "create", "code")
    lmspace("ingest", "code", str(code_folder))
    data = as_json(lmspace("research", "code", "Find print statements", "--json"))
    folder = as_json(lmspace("research", str(code_folder), "Find print statements", "--json"))
    assert [f["path"] for f in data["findings"]] == [f["path"] for f in folder["findings"]] == ["tool/tool/main.py"]


def test_a_broken_plan_file_exits_with_a_message(lmspace, code_folder, tmp_path: Path):
    broken = tmp_path / "plan.json"
    broken.write_text('{"task": "x",')
    result = lmspace("research", str(code_folder), "x", "--plan", str(broken))
    assert result.exit_code == 1 and "not valid JSON" in result.stderr


def test_many_files_of_unsupported_types_are_summed_up_by_type_after_the_table(lmspace, docs_folder):
    for number in range(12):
        (docs_folder / f"photo{number}.png").write_bytes(b"\x89PNG")
    (docs_folder / "inputrc.arrows").write_text("set editing-mode vi\n")
    lmspace("spaces", "create", "policies")
    result = lmspace("ingest", "policies", str(docs_folder))
    assert result.exit_code == 0, result.output
    assert "photo3.png" not in result.stdout and "2 added, 0 unchanged, 0 replaced, 0 failed, 13 skipped" in result.stdout
    assert "Left out 13 files of types LMSpace does not read: .png 12, .arrows 1 (--json lists each)." in result.stdout
    report = as_json(lmspace("ingest", "policies", str(docs_folder), "--json"))
    assert sum(f["outcome"] == "skipped" for f in report["files"]) == 13


def test_documents_listed_on_an_80_column_terminal_show_whole_names_and_ids(lmspace, tmp_path: Path):
    """`docs list` of /usr/share/doc/bash showed 'bash/REA…' four times (README, README.Debian.gz, ...) and ids cut
    to 8 characters: neither could be told apart or copied into `docs show`."""
    folder = tmp_path / "bash"
    folder.mkdir()
    for name in ("README.Debian", "README.commands", "README.abs-guide"):
        (folder / name).write_text(f"Notes of {name} about the Bourne Again shell and its builtins.\n")
    lmspace("spaces", "create", "docs")
    lmspace("ingest", "docs", str(folder))
    ids = [doc["id"] for doc in as_json(lmspace("docs", "list", "docs", "--json"))]
    listing = lmspace("docs", "list", "docs").stdout
    assert "…" not in listing and all(document_id in listing for document_id in ids)
    folded = "".join(line.split()[0] for line in listing.splitlines()[3:] if line.strip())
    assert "bash/README.Debianbash/README.abs-guidebash/README.commands" in folded.replace("│", "")


def test_jobs_list_without_jobs_says_so_and_how_jobs_start(lmspace):
    """It printed an empty table: CLI ingests are not jobs, so a new user saw nothing and no reason."""
    lmspace("spaces", "create", "policies")
    result = lmspace("jobs", "list", "policies")
    assert result.exit_code == 0
    assert "No jobs in space 'policies'" in result.stdout and "dashboard" in result.stdout
    assert as_json(lmspace("jobs", "list", "--json")) == []


def test_ingest_help_lists_the_types_it_reads(lmspace):
    """A skipped file's reason sends the user to `lmspace ingest --help`, which did not say which types it reads."""
    text = " ".join(lmspace("ingest", "--help").stdout.split())
    assert all(kind in text for kind in (".pdf", ".docx", ".py", "README", "gzipped", "lmspace plugins"))
