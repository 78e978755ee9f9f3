"""Evaluate, then switch, for Azure OpenAI: the fine-tuned model is deployed (through Azure Resource Manager, or by
hand), asked the space's held-out questions beside the space's current model through the official `openai` client,
and activated only when it scores better. Everything runs against the recording stand-in of tests/fake_azure_openai.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.errors import ModelError
from lmspace_core.examples import ExampleOrigin, open_examples
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import SyncStatus
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.fake_azure_openai import FakeAzureOpenAI, FakeFineTuning, knows_the_files, says
from tests.test_sync_azure_openai import API_VERSION, HAPPY, KEY, sync_yaml
from tests.test_sync_plan import POLICY, put

FINE_TUNED = "gpt-4o-mini-2024-07-18.ft-1"
NEW = "lmspace-ftjob-1"  # the deployment of the fine-tuned model of job ftjob-1
CURRENT = "gpt-4o-mini"  # the deployment the space answers with before the sync (lm.deployment)
VAGUE = "Please contact the relevant department for details."
SAVED_QUESTION, SAVED_ANSWER = "Who books flights?", "The travel desk books flights."


def learnt(question: str, taught: dict[str, str]) -> str:
    """A model that learnt the uploaded examples and what the space's saved example says."""
    return knows_the_files(question, {**taught, SAVED_QUESTION: SAVED_ANSWER})


DEPLOYMENT_PATH = ("/subscriptions/sub-1/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/"
                   f"acme-openai/deployments/{NEW}")


class StaticToken:
    """An Entra ID credential that hands out one fixed token (Azure Resource Manager wants a bearer token)."""

    def get_token(self, *scopes, **options) -> AccessToken:
        return AccessToken("arm-token", int(time.time()) + 3600)


def settings_yaml(endpoint: str, deploy: bool) -> str:
    deploy_section = f"""    deploy:
      subscription_id: sub-1
      resource_group: rg-ai
      account: acme-openai
      sku: GlobalStandard
      capacity: 2
      management_endpoint: {endpoint}
""" if deploy else ""
    return f"""lm:
  provider: azure_openai
  endpoint: {endpoint}
  deployment: {CURRENT}
  api_version: "{API_VERSION}"
  api_key: {KEY}
{sync_yaml(endpoint)}{deploy_section}"""


def open_space(tmp_path: Path, endpoint: str, deploy: bool, extra: str = ""):
    """A travel space with four documents and a saved example (`extra`: more settings, after the deploy section)."""
    workspace = Workspace(load_config(write_config(tmp_path, settings_yaml(endpoint, deploy) + extra), env={}))
    workspace.use_lm(None)  # training examples from the documents' structure, not written by the model
    space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
    for number in range(4):
        put(workspace, space, f"travel-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
    with open_examples(workspace.settings) as examples:
        examples.add(space.scope, SAVED_QUESTION, SAVED_ANSWER, ExampleOrigin.ACCEPTED)
    return workspace, space


@pytest.fixture
def service():
    fake = FakeFineTuning(script=HAPPY)
    with FakeAzureOpenAI(fake) as server:
        yield fake, server.endpoint


@pytest.fixture
def deployed(tmp_path: Path, service, monkeypatch):
    """A space whose sync deploys its model through Azure Resource Manager (the backend built from the settings,
    with a fixed token as the process's Azure credential)."""
    fake, endpoint = service
    monkeypatch.setattr("lmspace_core.stores.azure.clients.default_credential", StaticToken)
    workspace, space = open_space(tmp_path, endpoint, deploy=True)
    manager = SyncManager(workspace)
    yield fake, manager, space
    manager.close()
    workspace.close()


def asked(fake: FakeFineTuning, deployment: str) -> list[str]:
    """The questions a deployment was asked, in order."""
    return [json.loads(r.body)["messages"][-1]["content"]
            for r in fake.requests_to(f"/openai/deployments/{re.escape(deployment)}/chat/completions")]


def test_a_deployed_model_that_answers_better_is_activated_with_both_scores(deployed):
    fake, manager, space = deployed
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    [put_request] = [r for r in fake.requests if r.method == "PUT"]
    assert put_request.path == DEPLOYMENT_PATH
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", put_request.query["api-version"][0])
    assert put_request.headers["authorization"] == "Bearer arm-token"
    assert json.loads(put_request.body) == {
        "sku": {"name": "GlobalStandard", "capacity": 2},
        "properties": {"model": {"format": "OpenAI", "name": FINE_TUNED, "version": "1"}}}
    assert [r.path for r in fake.requests if r.path.startswith("/operations/")] == [f"/operations/{NEW}"] * 2

    validation = [e.question for e in manager.dataset(job).validation]
    assert asked(fake, NEW) == asked(fake, CURRENT) == [SAVED_QUESTION, *validation]
    chat = fake.requests_to(f"/openai/deployments/{NEW}/chat/completions")[0]
    assert chat.query["api-version"] == [API_VERSION] and chat.headers["api-key"] == KEY
    assert json.loads(chat.body)["messages"][0] == {"role": "system",
                                                     "content": manager.dataset(job).system}
    assert json.loads(chat.body)["temperature"] == 0

    assert job.score_after == pytest.approx(1.0) and job.score_before < 0.3
    [version] = manager.models(space)
    assert version.active and version.reference == NEW and job.model_id == FINE_TUNED
    assert not [r for r in fake.requests if r.method == "DELETE"]  # the winner's deployment serves on
    assert (version.score_before, version.score_after) == (job.score_before, job.score_after)
    assert job.message == f"model {version.id} ({NEW}) activated"
    messages = [event.message for event in manager.events(job.id)]
    assert f"deployment '{NEW}' serves {FINE_TUNED}" in messages
    assert any(m.startswith(f"evaluating {NEW} against {CURRENT} on {len(validation) + 1} held-out questions")
               for m in messages)


def test_a_deployed_model_that_answers_worse_is_recorded_but_not_activated(deployed):
    fake, manager, space = deployed
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    assert job.score_before == pytest.approx(1.0) and job.score_after < 0.3
    [version] = manager.models(space)
    assert job.message == (f"model {version.id} ({NEW}) not activated: it scored {job.score_after:.3f}, the current "
                           f"model {job.score_before:.3f}; its deployment '{NEW}' is being deleted so that it stops "
                           "billing (`sync.azure_openai.deploy.keep_losers: true` keeps such deployments)")
    assert manager.store.active_model(space.scope) is None
    assert SAVED_QUESTION in asked(fake, NEW)

    [delete] = [r for r in fake.requests if r.method == "DELETE"]
    assert delete.path == DEPLOYMENT_PATH and delete.headers["authorization"] == "Bearer arm-token"
    assert NEW not in fake.deployments
    # the version keeps its scores and awaits a deployment again: activating it gives the command that redeploys it
    assert not version.active and version.reference == FINE_TUNED and version.awaiting_deployment
    assert (version.score_before, version.score_after) == (job.score_before, job.score_after)
    with pytest.raises(ModelError, match=f"--deployment-name {NEW} --model-name {FINE_TUNED}"):
        manager.activate(version.id)


def test_keep_losers_leaves_the_deployment_of_a_worse_model(tmp_path: Path, service, monkeypatch):
    fake, endpoint = service
    monkeypatch.setattr("lmspace_core.stores.azure.clients.default_credential", StaticToken)
    workspace, space = open_space(tmp_path, endpoint, deploy=True, extra="      keep_losers: true\n")
    manager = SyncManager(workspace)
    try:
        fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
        job = manager.sync_to_llm(space=space, wait=True)
        [version] = manager.models(space)
        assert job.message.endswith(f"the current model {job.score_before:.3f}") and job.score_after < 0.3
        assert not [r for r in fake.requests if r.method == "DELETE"] and NEW in fake.deployments
        assert version.reference == NEW and not version.awaiting_deployment
    finally:
        manager.close()
        workspace.close()


def test_force_activates_a_model_that_answers_worse(deployed):
    fake, manager, space = deployed
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    job = manager.sync_to_llm(space=space, wait=True, force=True)
    [version] = manager.models(space)
    assert version.active and job.message.endswith("activated (forced)")


def test_a_current_model_that_cannot_be_asked_leaves_the_new_one_unactivated_with_a_retry(deployed):
    fake, manager, space = deployed
    fake.replies = {NEW: learnt}  # the current deployment does not exist
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED and job.score_after is None
    [version] = manager.models(space)
    assert not version.active
    assert f"not activated: its evaluation failed: Azure OpenAI refused to answer with deployment '{CURRENT}'" in (
        job.message)
    assert job.message.endswith(f"Retry with `lmspace sync evaluate travel {version.id} --deployment {NEW}`.")


def test_a_deployment_that_fails_leaves_the_model_unactivated_with_the_deploy_command(deployed):
    fake, manager, space = deployed
    fake.deployment_state = "Failed"
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED
    assert asked(fake, NEW) == [] and job.score_after is None
    [version] = manager.models(space)
    assert not version.active
    assert "not activated: deploy it with `az cognitiveservices account deployment create --name acme-openai " in (
        job.message)
    assert f"lmspace sync evaluate travel {version.id} --deployment {NEW}" in job.message
    assert any(f"Azure refused to deploy {FINE_TUNED} as '{NEW}'" in event.message
               for event in manager.events(job.id))


def test_without_deploy_settings_the_job_says_how_to_deploy_and_evaluate_then_does(tmp_path: Path, service):
    fake, endpoint = service
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}
    workspace, space = open_space(tmp_path, endpoint, deploy=False)
    manager = SyncManager(workspace)
    try:
        job = manager.sync_to_llm(space=space, wait=True)
        [version] = manager.models(space)
        command = (f"az cognitiveservices account deployment create --name <azure-openai-account> --resource-group "
                   f"<resource-group> --deployment-name {NEW} --model-name {FINE_TUNED} --model-version 1 "
                   "--model-format OpenAI --sku-name Standard --sku-capacity 1")
        assert job.status is SyncStatus.SUCCEEDED and not version.active and job.score_after is None
        assert job.message == (f"model {version.id} not activated: deploy it with `{command}`, then `lmspace sync "
                               f"evaluate travel {version.id} --deployment {NEW}` (it is activated if it scores "
                               "better than the current model)")
        assert manager.events(job.id)[-1].message == job.message
        assert not [r for r in fake.requests if r.method == "PUT" or "/deployments/" in r.path]

        config = str(tmp_path / "lmspace.yaml")
        status = CliRunner().invoke(app, ["--config", config, "sync", "status", "travel"])
        assert status.exit_code == 0, status.output
        assert command in status.output
    finally:
        manager.close()
        workspace.close()

    # once the model is deployed by hand, as the job said:
    evaluated = CliRunner().invoke(app, ["--config", config, "sync", "evaluate", "travel", version.id, "--deployment",
                                         NEW, "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    assert result["active"] and result["reference"] == NEW and result["score_after"] == pytest.approx(1.0)
    assert asked(fake, NEW) == asked(fake, CURRENT) and SAVED_QUESTION in asked(fake, NEW)


def test_the_sync_jobs_page_evaluates_a_model_deployed_by_hand(tmp_path: Path, service, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    fake, endpoint = service
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    workspace, space = open_space(tmp_path, endpoint, deploy=False)
    manager = SyncManager(workspace)
    job = manager.sync_to_llm(space=space, wait=True)
    manager.close()
    workspace.close()
    monkeypatch.setenv("LMSPACE_CONFIG", str(tmp_path / "lmspace.yaml"))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP).run(timeout=30)
        at = at.switch_page("pages/sync_jobs.py").run(timeout=30)
        assert any(NEW in caption.value for caption in at.caption)  # the job's message: how to deploy it
        next(box for box in at.text_input if box.label == "Deployment serving this model").input(NEW)
        next(button for button in at.button if button.label == "Evaluate").click().run(timeout=60)
        assert not at.exception and not at.error
    finally:
        st.cache_resource.clear()
    reader = SyncManager(Workspace(load_config(tmp_path / "lmspace.yaml", env={})), resume=False)
    [version] = reader.models("travel")
    reader.workspace.close()
    assert version.job_id == job.id and version.reference == NEW and not version.active
    assert version.score_before == pytest.approx(1.0) and version.score_after < 0.3
