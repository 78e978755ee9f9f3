"""`lmspace examples add|list|delete` and `lmspace optimize` as people and scripts use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lmspace_core.agents.optimize import split_held_out
from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.examples import open_examples
from lmspace_core.workspace import Workspace
from tests.conftest import azure_environment, write_config
from tests.test_optimize import EXAMPLES, POLICY, FewShotLM
from tests.test_optimize_planner import PLANS


@pytest.fixture
def lmspace(tmp_path: Path, request, monkeypatch):
    """The CLI on a fresh data directory; on the emulators when the test also asks for the `backend` parameter."""
    config = write_config(tmp_path)
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "azure":
        for name, value in azure_environment(request.getfixturevalue("azure_emulators")).items():
            monkeypatch.setenv(name, value)
    runner = CliRunner()

    def run(*args: str) -> Result:
        result = runner.invoke(app, ["--config", str(config), *args])
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


def as_json(result: Result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def space(lmspace, tmp_path: Path) -> str:
    assert lmspace("spaces", "create", "policies").exit_code == 0
    return "policies"


def test_examples_are_added_listed_and_deleted(lmspace, space, backend):
    added = as_json(lmspace("examples", "add", space, "How long are invoices kept?", "Seven years.", "--json"))
    assert (added["question"], added["answer"], added["origin"]) == ("How long are invoices kept?", "Seven years.",
                                                                     "written")
    as_json(lmspace("examples", "add", space, "How long are invoices kept?", "Seven years after year end.", "--json"))
    [listed] = as_json(lmspace("examples", "list", space, "--json"))
    assert (listed["id"], listed["answer"]) == (added["id"], "Seven years after year end."), "one example per question"
    table = lmspace("examples", "list", space).stdout
    assert added["id"] in table and "written" in table
    assert as_json(lmspace("examples", "delete", space, added["id"], "--json")) == {"deleted": added["id"]}
    assert as_json(lmspace("examples", "list", space, "--json")) == []


def test_examples_commands_explain_what_is_wrong(lmspace, space):
    missing = lmspace("examples", "delete", space, "nope")
    assert missing.exit_code == 4 and "has no example nope" in missing.stderr
    assert lmspace("examples", "list", "nowhere").exit_code == 4
    empty = lmspace("examples", "add", space, "A question?", "  ")
    assert empty.exit_code == 1 and "needs both a question and an answer" in empty.stderr


def test_research_examples_are_added_from_a_plan_file_and_listed_apart(lmspace, space, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(PLANS[0].to_json())
    added = as_json(lmspace("examples", "add-plan", space, str(plan_file), "--json"))
    assert (added["task"], added["plan"]["pattern"]["name"]) == ("Find print statements", "print")
    [listed] = as_json(lmspace("examples", "list", space, "--plans", "--json"))
    assert listed["id"] == added["id"]
    assert "Find print" in lmspace("examples", "list", space, "--plans").stdout
    assert as_json(lmspace("examples", "list", space, "--json")) == [], "question/answer examples are listed apart"
    assert as_json(lmspace("examples", "delete", space, added["id"], "--json")) == {"deleted": added["id"]}
    plan_file.write_text("{}")
    assert lmspace("examples", "add-plan", space, str(plan_file)).exit_code == 1


def test_optimize_without_a_model_says_how_to_configure_one(lmspace, space):
    for program in ("knowledge", "planner"):
        result = lmspace("optimize", space, "--program", program)
        assert result.exit_code == 8 and "needs a language model" in result.stderr
    assert lmspace("optimize", space, "--optimizer", "best").exit_code == 2
    assert lmspace("optimize", space, "--program", "answers").exit_code == 2


def test_optimize_reports_scores_saves_the_program_and_reset_goes_back(lmspace, tmp_path, monkeypatch):
    from lmspace_core import lm

    monkeypatch.setattr(lm, "build_lm", lambda *_: FewShotLM(known=set(EXAMPLES) - {held_out}))
    source = tmp_path / "retention.md"
    source.write_text(POLICY)
    assert lmspace("spaces", "create", "policies").exit_code == 0
    assert lmspace("ingest", "policies", str(source)).exit_code == 0
    for question, answer in EXAMPLES.items():
        assert lmspace("examples", "add", "policies", question, answer).exit_code == 0
    held_out = _held_out(tmp_path / "lmspace.yaml")

    report = as_json(lmspace("optimize", "policies", "--json"))
    assert (report["optimizer"], report["score_before"], report["score_after"], report["saved"]) == (
        "BootstrapFewShot", 0.0, 1.0, True)
    assert list((tmp_path / "home" / "programs").rglob("knowledge.json"))
    text = lmspace("optimize", "policies", "--reset")
    assert text.exit_code == 0 and "uses the uncompiled knowledge program." in text.stdout
    assert not list((tmp_path / "home" / "programs").rglob("knowledge.json"))
    assert as_json(lmspace("optimize", "policies", "--reset", "--json")) == {"space": "policies", "program": "knowledge", "reset": False}


def _held_out(config: Path) -> str:
    """The question the optimiser holds out, read the way `lmspace optimize` reads the examples."""
    workspace = Workspace(load_config(config))
    try:
        with open_examples(workspace.settings) as store:
            [example] = split_held_out(store.list(workspace.space("policies").scope), key=lambda e: e.question)[1]
    finally:
        workspace.close()
    return example.question
