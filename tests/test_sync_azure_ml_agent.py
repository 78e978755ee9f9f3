"""Evaluate, then switch, to the end: once an Azure ML deployment is a space's active model, the space's agent
(`lmspace ask`, `KnowledgeAgent.query`, the Chat page, research) answers through it, on the space's online endpoint,
with the requests the evaluation sends; rollback returns to the configured model; the endpoint's failures are
clear messages, the transient ones retried first. The MLClient is the recording stand-in of tests/fake_azure_ml; the
scoring URI is a real loopback server that records every request.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from dspy import lm15
from dspy.utils import DummyLM
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from lmspace_core.agents.knowledge import KnowledgeAgent
from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.domain import AnswerMode, Space
from lmspace_core.errors import ModelError
from lmspace_core.lm import model_call_failed
from lmspace_core.sync.endpoint_lm import EndpointEngine
from lmspace_core.sync.model import ModelVersion, SyncStatus
from lmspace_core.sync.online_endpoint import EndpointChat
from lmspace_core.workspace import Workspace
from tests.conftest import APP, write_config
from tests.fake_azure_ml import KEY, FakeAzureML, ScoringServer
from tests.test_sync_azure_ml_evaluate import (  # noqa: F401  (azure_ml is a fixture)
    NEW,
    azure_ml,
    endpoint_of,
    learnt,
    settings_yaml,
)
from tests.test_sync_plan import POLICY

CURRENT = "ft-travel-job"  # the deployment serving the space's fine-tuned model
ENDPOINT_ANSWER = "Flights are booked through the travel desk [1]."
CONFIGURED_ANSWER = "Book with the travel desk, fourteen days ahead [1]."
QUESTION = "Who books flights?"


def in_dspy_format(answer: str) -> str:
    """A reply as DSPy's chat adapter asks the agent's model to write it."""
    return (f"[[ ## reasoning ## ]]\nThe first passage says so.\n\n[[ ## answer ## ]]\n{answer}\n\n"
            "[[ ## cited ## ]]\n[1]\n\n[[ ## completed ## ]]\n")


PLAN = ("[[ ## reasoning ## ]]\nPrint calls are a pattern.\n\n[[ ## strategy ## ]]\npattern\n\n"
        "[[ ## include_globs ## ]]\n[\"**/*\"]\n\n[[ ## languages ## ]]\n[]\n\n[[ ## pattern_kind ## ]]\ncall\n\n"
        "[[ ## pattern_name ## ]]\nprint\n\n[[ ## pattern_regex ## ]]\n\n\n[[ ## question ## ]]\n\n\n"
        "[[ ## rationale ## ]]\nThe fine-tuned model planned this.\n\n[[ ## completed ## ]]\n")


def fine_tuned(question: str, taught: dict[str, str]) -> str:
    """The fine-tuned model: the agent's prompts get a cited answer, research's planner a plan, held-out questions
    what it learnt."""
    if "[[ ## task ## ]]" in question:
        return PLAN
    return in_dspy_format(ENDPOINT_ANSWER) if "[[ ## question ## ]]" in question else learnt(question, taught)


@dataclass
class Travel:
    fake: FakeAzureML
    agent: KnowledgeAgent
    space: Space
    config: Path

    def activate(self) -> ModelVersion:
        """Take up CURRENT as the space's model, as a deployment made by hand is (`pull_llm_updates`, forced)."""
        version = self.agent.pull_llm_updates(CURRENT, self.space, backend="azure_ml", deployment=CURRENT, force=True)
        assert version.active
        return version

    def ask(self, *args: str):
        return CliRunner().invoke(app, ["--config", str(self.config), "ask", "travel", *args])

    def scoring_requests(self) -> list:
        return [r for r in self.fake.requests if r.headers.get("azureml-model-deployment") == CURRENT]


def travel_config(tmp_path: Path, request_format: str = "azureml_chat") -> Path:
    """The azure_ml backend's settings and no language model of its own (`lm.provider: none`)."""
    return write_config(tmp_path, settings_yaml("", request_format) + "lm:\n  timeout_s: 5\n")


def travel_space(workspace: Workspace, fake: FakeAzureML) -> Space:
    space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
    workspace.ingest(space, {"travel.md": POLICY})
    fake.endpoints[endpoint_of(space)] = object()
    return space


@pytest.fixture
def travel(tmp_path: Path, monkeypatch, request):
    """A travel space whose online endpoint serves CURRENT (the fine-tuned model) on the recording stand-in, asked
    in `request.param`'s format; no model version is active yet."""
    fake = FakeAzureML(statuses=["Completed"], served={CURRENT}, replies={CURRENT: fine_tuned})
    monkeypatch.setattr("lmspace_core.sync.backends.azure_ml.ml_client_from_settings", lambda settings: fake)
    config = travel_config(tmp_path, getattr(request, "param", "azureml_chat"))
    with ScoringServer(fake):
        workspace = Workspace(load_config(config, env={}))
        agent = KnowledgeAgent(workspace)
        yield Travel(fake, agent, travel_space(workspace, fake), config)
        agent.sync_manager.close()
        workspace.close()


def test_lmspace_ask_answers_through_the_active_azure_ml_deployment_until_rollback(travel):
    travel.activate()
    result = travel.ask(QUESTION, "--json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["mode"], answer["text"]) == ("generated", ENDPOINT_ANSWER)
    assert [c["source"] for c in answer["citations"]] == ["travel.md"]
    [scored] = travel.scoring_requests()
    assert (scored.method, scored.path) == ("POST", "/score")
    assert scored.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(scored.body)["input_data"]
    system, user = body["input_string"]
    assert system["role"] == "system" and "`answer`" in system["content"] and "`cited`" in system["content"]
    assert user["role"] == "user" and QUESTION in user["content"] and "Booking flights" in user["content"]
    assert body["parameters"] == {"do_sample": False, "max_new_tokens": 1024}  # lm.temperature and lm.max_tokens
    assert KEY not in result.output

    travel.agent.sync_manager.rollback(travel.space, to="base")
    assert json.loads(travel.ask(QUESTION, "--json").output)["mode"] == "extracted"  # as configured: lm.provider none
    assert len(travel.scoring_requests()) == 1


@pytest.mark.parametrize("travel", ["openai_chat"], indirect=True)
def test_a_deployment_served_with_the_openai_api_is_asked_on_chat_completions(travel):
    travel.activate()
    answer = travel.agent.query(QUESTION, "travel")

    assert (answer.mode, answer.text) == (AnswerMode.GENERATED, ENDPOINT_ANSWER)
    [scored] = travel.scoring_requests()
    assert scored.path == "/v1/chat/completions"
    body = json.loads(scored.body)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert (body["temperature"], body["max_tokens"]) == (0.0, 1024)


def test_the_key_is_read_once_and_rollback_returns_to_the_configured_model(travel):
    travel.agent.workspace.use_lm(DummyLM([{"reasoning": "Passage 1.", "answer": CONFIGURED_ANSWER, "cited": [1]}]))
    travel.activate()
    first = travel.agent.query(QUESTION, "travel")
    second = travel.agent.query("How are flights booked?", "travel")
    assert first.text == second.text == ENDPOINT_ANSWER
    assert len(travel.scoring_requests()) == 2 and travel.fake.keys_read == 1

    travel.agent.sync_manager.rollback(travel.space, to="base")
    after = travel.agent.query("Who books our flights?", "travel")
    assert (after.mode, after.text) == (AnswerMode.GENERATED, CONFIGURED_ANSWER)
    assert len(travel.scoring_requests()) == 2  # the endpoint is not asked any more


def test_research_over_the_space_plans_with_the_active_deployment(travel):
    travel.agent.workspace.ingest(travel.space, {"app.py": "def greet():\n    print('hello')\n"})
    travel.activate()
    result = CliRunner().invoke(app, ["--config", str(travel.config), "research", "travel", "Find print statements",
                                      "--plan-only", "--json"])

    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert (plan["planner"], plan["rationale"]) == ("model", "The fine-tuned model planned this.")
    [planned] = travel.scoring_requests()
    prompt = json.loads(planned.body)["input_data"]["input_string"][-1]["content"]
    assert "[[ ## task ## ]]\nFind print statements" in prompt


def test_a_model_a_sync_deployed_evaluated_and_activated_answers_the_agent(azure_ml):  # noqa: F811
    fake, manager, space = azure_ml
    fake.replies = {NEW: fine_tuned}
    job = manager.sync_to_llm(space=space, wait=True)
    assert job.status is SyncStatus.SUCCEEDED and job.message.endswith("activated"), job.message
    asked_before = len(fake.requests)

    answer = KnowledgeAgent(manager.workspace).query(QUESTION, space)

    assert (answer.mode, answer.text) == (AnswerMode.GENERATED, ENDPOINT_ANSWER)
    [scored] = fake.requests[asked_before:]
    assert scored.headers["azureml-model-deployment"] == NEW
    prompt = json.loads(scored.body)["input_data"]["input_string"][-1]["content"]
    assert f"[[ ## question ## ]]\n{QUESTION}" in prompt  # the agent's prompt, not an evaluation's bare question


def refuse_the_key(fake: FakeAzureML) -> None:
    fake.online_endpoints.get_keys = lambda name: SimpleNamespace(primary_key="a-key-regenerated-since")


@pytest.mark.parametrize(("breakdown", "requests", "says"), [
    (refuse_the_key, 1, "Azure ML endpoint '{endpoint}' refused its key for deployment 'ft-travel-job' (HTTP 401)"),
    (lambda fake: fake.served.discard(CURRENT), 1,
     "Azure ML deployment 'ft-travel-job' of endpoint '{endpoint}' answered HTTP 404: "),
    (lambda fake: fake.outages.extend([500] * 4), 4,
     "Azure ML deployment 'ft-travel-job' of endpoint '{endpoint}' answered HTTP 500: "),
], ids=["key refused", "deployment gone", "server errors"])
def test_an_endpoint_that_fails_is_a_clear_message_after_the_retries_it_deserves(travel, breakdown, requests, says):
    version = travel.activate()
    breakdown(travel.fake)
    result = travel.ask(QUESTION)

    assert result.exit_code == ModelError.exit_code
    output = " ".join(result.output.split())
    assert says.format(endpoint=endpoint_of(travel.space)) in output
    assert output.endswith(f"It is the active model of space 'travel' (version {version.id}): `lmspace sync "
                           "rollback travel` switches back to the model before it.")
    assert "Traceback" not in result.output and KEY not in result.output and "a-key-regenerated" not in output
    assert len(travel.scoring_requests()) == requests  # 1 try + 3 retries for a server error, 1 for the others


def test_a_refused_key_is_read_again_for_the_next_question(travel):
    travel.activate()
    keys = travel.fake.online_endpoints.get_keys
    refuse_the_key(travel.fake)
    with pytest.raises(ModelError, match="refused its key"):
        travel.agent.query(QUESTION, "travel")
    travel.fake.online_endpoints.get_keys = keys  # e.g. the key was regenerated, and LMSpace had the old one
    assert travel.agent.query(QUESTION, "travel").text == ENDPOINT_ANSWER


def test_throttling_and_server_errors_are_retried_before_the_answer(travel):
    travel.activate()
    travel.fake.outages.extend([503, 429])
    assert travel.agent.query(QUESTION, "travel").text == ENDPOINT_ANSWER
    assert len(travel.scoring_requests()) == 3


def late(question: str, taught: dict[str, str]) -> str:
    time.sleep(0.6)
    return "late"


def test_a_deployment_that_does_not_answer_in_time_is_a_timeout_dspy_retries(travel):
    slow = FakeAzureML(statuses=["Completed"], served={CURRENT}, replies={CURRENT: fine_tuned})
    with ScoringServer(slow):
        slow.endpoints["lmspace-travel"] = object()
        settings = load_config(travel.config, env={}).sync.azure_ml
        chat = EndpointChat(slow, settings, "lmspace-travel", timeout_s=0.2)
        slow.replies = {CURRENT: late}
        request = lm15.Request(model=CURRENT, messages=(lm15.Message.user(QUESTION),))
        with pytest.raises(lm15.TimeoutError) as raised:
            EndpointEngine(chat, CURRENT, "It is the active model.").complete(request)
    message = str(model_call_failed(raised.value))
    assert message == (f"Azure ML endpoint 'lmspace-travel' did not answer within 0.2 s at {slow.scoring_base}/score. "
                       "It is the active model.")


@pytest.fixture
def chat_page(tmp_path: Path, monkeypatch):
    """The dashboard on a travel space whose active model is CURRENT, with no language model configured."""
    from lmspace_ui.resources import get_workspace

    fake = FakeAzureML(statuses=["Completed"], served={CURRENT}, replies={CURRENT: fine_tuned})
    monkeypatch.setattr("lmspace_core.sync.backends.azure_ml.ml_client_from_settings", lambda settings: fake)
    monkeypatch.setenv("LMSPACE_CONFIG", str(travel_config(tmp_path)))
    st.cache_resource.clear()
    with ScoringServer(fake):
        workspace = get_workspace()
        agent = KnowledgeAgent(workspace)
        space = travel_space(workspace, fake)
        Travel(fake, agent, space, tmp_path / "lmspace.yaml").activate()
        at = AppTest.from_file(APP, default_timeout=60).run()
        yield fake, at.switch_page("pages/chat.py").run()
        st.cache_resource.clear()
        workspace.close()


def test_the_chat_page_answers_with_the_active_deployment_and_shows_its_failures(chat_page):
    fake, at = chat_page
    assert not at.exception
    assert not [info for info in at.info if "No language model is configured" in info.value]

    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception and not at.error
    assert any(ENDPOINT_ANSWER.removesuffix(" [1].") in md.value for md in at.markdown)

    fake.served.discard(CURRENT)
    at.chat_input[0].set_value("And hotels?").run()
    assert not at.exception
    [error] = at.error
    assert "answered HTTP 404" in error.value and "lmspace sync rollback travel" in error.value
