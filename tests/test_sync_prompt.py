"""The `prompt` sync kind: DSPy prompt optimisation of the space's KnowledgeAgent, run as a sync job for real."""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.agents.programs import KNOWLEDGE, program_path, version_path
from lmspace_core.cli import app
from lmspace_core.domain import AnswerMode
from lmspace_core.errors import LMSpaceError, ModelError
from lmspace_core.sync.model import SyncStatus
from tests.conftest import write_config
from tests.notes_plugin import notes_plugin  # noqa: F401 (a fixture)
from tests.killed_jobs import after_restart, kill_when_it_prints
from tests.test_optimize import EXAMPLES, FIRST_REASONING, FewShotLM, held_out_questions, reply, space_with
from tests.test_plugins import NOTE
from tests.test_sync_plan import manager  # noqa: F401 (a fixture)


@pytest.fixture
def space(workspace):
    return space_with(workspace, "policies", EXAMPLES)


def trained_lm(workspace, space, **options) -> FewShotLM:
    """A model that knows the training questions but needs demos for the held-out one."""
    return FewShotLM(known=set(EXAMPLES) - held_out_questions(workspace, space), **options)


def compiled_program(workspace, space):
    return program_path(workspace.settings.data_dir, space, KNOWLEDGE)


def test_a_prompt_sync_compiles_the_program_in_a_job_and_activates_it_when_it_scores_better(workspace, manager, space):
    workspace.use_lm(trained_lm(workspace, space))
    job = manager.sync_to_llm(space=space, kind="prompt")

    assert job.status is SyncStatus.SUCCEEDED, job.error
    assert (job.backend, job.score_before, job.score_after) == ("prompt", 0.0, 1.0)
    statuses = [event.status for event in manager.events(job.id)]
    assert statuses[:3] == [SyncStatus.CREATED, SyncStatus.QUEUED, SyncStatus.RUNNING]
    assert statuses[-1] is SyncStatus.SUCCEEDED
    trials = manager.metrics(job.id)
    assert [m.step for m in trials] == [1, 2, 3, 4] and all(m.accuracy == 1.0 for m in trials)
    [version] = manager.models(space)
    assert version.active and version.kind == "program" and version.id == job.model_version_id
    assert "activated" in job.message and job.dataset_id is None

    [question] = held_out_questions(workspace, space)
    answer = KnowledgeAgent(workspace).query(question, space)
    assert answer.mode is AnswerMode.GENERATED and answer.text == reply(EXAMPLES[question])["answer"]


def test_a_compiled_program_that_is_not_better_is_kept_as_a_version_but_not_activated(workspace, manager, space):
    workspace.use_lm(trained_lm(workspace, space))
    manager.sync_to_llm(space=space, kind="prompt")
    first = compiled_program(workspace, space).read_bytes()
    # This model answers the held-out question only with demos carrying the first model's reasoning: the active ones.
    workspace.use_lm(trained_lm(workspace, space, reasoning="Another model's reasoning.", needs=FIRST_REASONING))

    job = manager.sync_to_llm(space=space, kind="prompt")

    assert job.status is SyncStatus.SUCCEEDED
    assert (job.score_before, job.score_after) == (1.0, 0.0)
    assert "not activated: it scored 0.000, the current model 1.000" in job.message
    assert [v.active for v in manager.models(space)] == [False, True]
    assert compiled_program(workspace, space).read_bytes() == first

    forced = manager.sync_to_llm(space=space, kind="prompt", force=True)
    assert "activated (forced)" in forced.message
    assert manager.models(space)[0].active
    assert compiled_program(workspace, space).read_bytes() != first


def test_rollback_puts_the_earlier_program_back_then_the_uncompiled_one(workspace, manager, space):
    workspace.use_lm(trained_lm(workspace, space))
    first = manager.sync_to_llm(space=space, kind="prompt")
    workspace.use_lm(trained_lm(workspace, space, reasoning="Another model's reasoning."))
    second = manager.sync_to_llm(space=space, kind="prompt", force=True)
    path = compiled_program(workspace, space)
    data_dir = workspace.settings.data_dir
    assert path.read_bytes() == version_path(data_dir, space, KNOWLEDGE, second.model_id).read_bytes()

    assert manager.rollback(space).id == first.model_version_id
    assert path.read_bytes() == version_path(data_dir, space, KNOWLEDGE, first.model_id).read_bytes()

    assert manager.rollback(space) is None
    assert not path.exists()
    agent = KnowledgeAgent(workspace)
    assert agent.responder(space) is agent.respond

    manager.activate(second.model_version_id, space)
    assert path.read_bytes() == version_path(data_dir, space, KNOWLEDGE, second.model_id).read_bytes()


def test_without_a_language_model_a_prompt_sync_is_refused_and_no_job_is_recorded(manager, space):
    with pytest.raises(ModelError, match="needs a language model: set lm.provider"):
        manager.sync_to_llm(space=space, kind="prompt")
    assert manager.jobs(space) == []


def test_a_prompt_sync_takes_no_dataset_or_backend(workspace, manager, space):
    workspace.use_lm(trained_lm(workspace, space))
    with pytest.raises(LMSpaceError, match="takes no dataset and no backend"):
        manager.sync_to_llm(space=space, kind="prompt", backend="azure_openai")


def test_a_cancelled_prompt_sync_stops_before_compiling_and_records_no_model(workspace, manager, space):
    lm = trained_lm(workspace, space)
    proceed = threading.Event()
    complete = lm._engine_spec._complete_messages

    def held_until_cancelled(messages):
        proceed.wait(30)
        return complete(messages)

    lm._engine_spec._complete_messages = held_until_cancelled
    workspace.use_lm(lm)
    job = manager.sync_to_llm(space=space, kind="prompt", wait=False)
    manager.cancel(job.id)
    proceed.set()

    job = manager.wait(job.id, timeout=60)
    assert job.status is SyncStatus.CANCELLED and job.error == "Cancelled on request."
    assert manager.metrics(job.id) == [], "no trial ran"
    assert manager.models(space) == [] and not compiled_program(workspace, space).exists()


def test_killing_the_process_during_a_prompt_sync_leaves_it_interrupted(tmp_path: Path):
    config = write_config(tmp_path)
    script = textwrap.dedent(f"""
        import time
        from lmspace_core.config import load_config
        from lmspace_core.sync.manager import SyncManager
        from lmspace_core.workspace import Workspace
        from tests.test_optimize import EXAMPLES, FewShotLM, space_with

        workspace = Workspace(load_config({str(config)!r}, env={{}}))
        space = space_with(workspace, "policies", EXAMPLES)
        lm = FewShotLM(known=set(EXAMPLES))
        complete = lm._engine_spec._complete_messages
        calls = []

        def slow(messages):  # the second call never ends: the job is running when the process is killed
            calls.append(1)
            if len(calls) > 1:
                time.sleep(600)
            return complete(messages)

        lm._engine_spec._complete_messages = slow
        workspace.use_lm(lm)
        manager = SyncManager(workspace)
        job = manager.sync_to_llm(space=space, kind="prompt", wait=False)
        while len(calls) < 2:
            time.sleep(0.05)
        print(job.id, flush=True)
        time.sleep(600)
    """)
    job, events, _ = after_restart(config, kill_when_it_prints(script))
    assert job.status is SyncStatus.INTERRUPTED and "stopped before it finished" in job.error
    assert events[-1].status is SyncStatus.INTERRUPTED


def lmspace(config: Path, *args: str):
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_the_cli_runs_a_prompt_sync_with_the_configured_model_and_gates_it(tmp_path, notes_plugin):
    config = write_config(tmp_path, "lm:\n  provider: scripted_notes\n")  # the test plugin's scripted model
    (tmp_path / "offsite.note").write_text(NOTE)
    assert lmspace(config, "spaces", "create", "team").exit_code == 0
    assert lmspace(config, "ingest", "team", str(tmp_path / "offsite.note")).exit_code == 0
    for question in ("Where is the offsite?", "Which city hosts the offsite?", "Where do we meet in May?",
                     "Where is the 2027 team offsite?"):
        assert lmspace(config, "examples", "add", "team", question, notes_plugin.ANSWER).exit_code == 0

    result = lmspace(config, "sync", "start", "team", "--kind", "prompt", "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert (job["status"], job["backend"], job["score_before"], job["score_after"]) == ("succeeded", "prompt", 1.0, 1.0)
    assert "not activated: it scored 1.000, the current model 1.000" in job["message"]

    forced = json.loads(lmspace(config, "sync", "start", "team", "--kind", "prompt", "--force", "--json").stdout)
    assert "activated (forced)" in forced["message"]
    versions = json.loads(lmspace(config, "sync", "models", "team", "--json").stdout)
    assert [(v["kind"], v["active"]) for v in versions] == [("program", True), ("program", False)]


def test_the_cli_refuses_a_prompt_sync_without_a_language_model(tmp_path):
    config = write_config(tmp_path)
    assert lmspace(config, "spaces", "create", "team").exit_code == 0
    result = lmspace(config, "sync", "start", "team", "--kind", "prompt")
    assert result.exit_code == ModelError.exit_code
    assert "Prompt optimisation needs a language model" in result.output
    assert json.loads(lmspace(config, "sync", "status", "team", "--json").stdout) == []


def test_a_mipro_prompt_sync_is_cancelled_between_its_trials(workspace, manager):
    many = {f"Question {n}: how long are invoices kept?": "Invoices are kept for seven years." for n in range(28)}
    space = space_with(workspace, "many", many)
    lm = FewShotLM(known=set(many), examples=many)
    complete, calls = lm._engine_spec._complete_messages, []

    def cancel_on_the_twelfth_call(messages):  # by then MIPROv2 is bootstrapping its demo sets
        calls.append(1)
        if len(calls) == 12:
            manager.cancel(manager.jobs(space)[0].id)
        return complete(messages)

    lm._engine_spec._complete_messages = cancel_on_the_twelfth_call
    workspace.use_lm(lm)
    job = manager.sync_to_llm(space=space, kind="prompt")
    assert job.status is SyncStatus.CANCELLED, job.error
    assert 0 < len(manager.metrics(job.id)) < 21 and manager.models(space) == []
