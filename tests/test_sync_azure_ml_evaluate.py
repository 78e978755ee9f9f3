"""Evaluate, then switch, for Azure ML: the fine-tuned model is deployed on the space's managed online endpoint
(with `sync.azure_ml.deploy`, or by hand with the commands the job gives), asked the space's held-out questions beside
the space's current Azure ML deployment through the endpoint's scoring URI, and activated only when it scores
better; the deployment of a model that scored worse is deleted unless `keep_losers`. The MLClient is the recording stand-in of tests/fake_azure_ml; the scoring URI is a real loopback server.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.examples import ExampleOrigin, open_examples
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import ModelVersion, SyncStatus
from lmspace_core.config import AzureMLSyncSettings
from lmspace_core.errors import ModelError
from lmspace_core.sync.events import EventHandler
from lmspace_core.sync.online_endpoint import EndpointChat, online_deployment_name
from lmspace_core.sync.store import new_id
from lmspace_core.workspace import Workspace
from tests.conftest import write_config
from tests.fake_azure_ml import KEY, FakeAzureML, ScoringServer
from tests.fake_azure_openai import knows_the_files, says
from tests.test_sync_plan import POLICY, put

NEW = "ft-ml-job-7"  # the deployment of the model of Azure ML job ml-job-7
CURRENT = "ft-earlier-job"  # the deployment the space's active model is served by
VAGUE = "Please contact the relevant department for details."
SAVED_QUESTION, SAVED_ANSWER = "Who books flights?", "The travel desk books flights."
WHERE = "--resource-group rg-ml --workspace-name ws-ml"
COMPLETED = ["Queued", "Running", "Completed"]


def learnt(question: str, taught: dict[str, str]) -> str:
    """A model that learnt the registered examples and what the space's saved example says."""
    return knows_the_files(question, {**taught, SAVED_QUESTION: SAVED_ANSWER})


def settings_yaml(deploy: str, request_format: str) -> str:
    return f"""sync:
  backend: azure_ml
  min_examples: 4
  poll_s: 0.01
  azure_ml:
    subscription_id: sub-1
    resource_group: rg-ml
    workspace: ws-ml
    instance_type: Standard_NC6s_v3
    instance_count: 2
    request_format: {request_format}
{deploy}"""


@pytest.fixture
def azure_ml(tmp_path: Path, monkeypatch, request):
    """A travel space with four documents and a saved example, synced on the Azure ML stand-in; `request.param`:
    the deploy section (indented under azure_ml) and the request format."""
    deploy, request_format = getattr(request, "param", ("    deploy:\n      timeout_s: 30\n", "azureml_chat"))
    fake = FakeAzureML(statuses=list(COMPLETED))
    monkeypatch.setattr("lmspace_core.sync.backends.azure_ml.ml_client_from_settings", lambda settings: fake)
    with ScoringServer(fake):
        workspace = Workspace(load_config(write_config(tmp_path, settings_yaml(deploy, request_format)), env={}))
        workspace.use_lm(None)  # training examples from the documents' structure
        space = workspace.create_space("travel", instructions="Answer as Acme's travel assistant.")
        for number in range(4):
            put(workspace, space, f"travel-{number}.md", POLICY.replace("Travel", f"Travel {number}"), f"h{number}")
        with open_examples(workspace.settings) as examples:
            examples.add(space.scope, SAVED_QUESTION, SAVED_ANSWER, ExampleOrigin.ACCEPTED)
        fake.registered_model = (f"lmspace-{space.id}", "1")
        manager = SyncManager(workspace)
        yield fake, manager, space
        manager.close()
        workspace.close()


def endpoint_of(space) -> str:
    return f"lmspace-{space.id[:16]}"


def serving_now(fake: FakeAzureML, manager: SyncManager, space) -> ModelVersion:
    """Make an earlier Azure ML model, deployed as CURRENT on the space's endpoint, the space's active one."""
    fake.endpoints[endpoint_of(space)] = object()
    fake.served.add(CURRENT)
    version = manager.store.add_model(ModelVersion(
        id=new_id(), enterprise_id=space.enterprise_id, space_id=space.id, job_id=None, dataset_id=None,
        backend="azure_ml", kind="deployment", reference=CURRENT, score_before=None, score_after=None, active=False,
        created_at=datetime.now(UTC), deployment=CURRENT))
    manager.store.activate_model(space.scope, version.id)
    return version


def asked(fake: FakeAzureML, deployment: str) -> list[str]:
    """The questions a deployment was asked, in order (either request format)."""
    questions = []
    for request in fake.requests:
        if request.headers.get("azureml-model-deployment") == deployment:
            body = json.loads(request.body)
            messages = body["input_data"]["input_string"] if "input_data" in body else body["messages"]
            questions.append(messages[-1]["content"])
    return questions


def new_version(manager: SyncManager, space) -> ModelVersion:
    return next(v for v in manager.models(space) if v.job_id is not None)


def test_the_first_model_gets_the_space_an_endpoint_and_a_deployment_and_is_activated(azure_ml):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

    fake, manager, space = azure_ml
    fake.replies = {NEW: learnt}
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    [endpoint] = fake.created_endpoints
    assert isinstance(endpoint, ManagedOnlineEndpoint)
    assert (endpoint.name, endpoint.auth_mode) == (endpoint_of(space), "key")
    [deployment] = fake.created_deployments
    assert isinstance(deployment, ManagedOnlineDeployment)
    assert (deployment.name, deployment.endpoint_name, deployment.model) == (
        NEW, endpoint_of(space), f"azureml:lmspace-{space.id}:1")
    assert (deployment.instance_type, deployment.instance_count) == ("Standard_NC6s_v3", 2)

    validation = [e.question for e in manager.dataset(job).validation]
    assert asked(fake, NEW) == [SAVED_QUESTION, *validation]
    [version] = manager.models(space)
    assert version.active and version.reference == NEW and job.model_id == f"lmspace-{space.id}:1"
    assert job.score_before is None and job.score_after == pytest.approx(1.0)
    assert job.message == f"model {version.id} ({NEW}) activated"
    messages = [event.message for event in manager.events(job.id)]
    assert f"deployment '{NEW}' serves lmspace-{space.id}:1" in messages
    assert any(m.startswith(f"evaluating {NEW} against nothing (no current azure_ml model)") for m in messages)


def test_a_model_that_answers_better_than_the_active_deployment_is_activated(azure_ml):
    fake, manager, space = azure_ml
    current = serving_now(fake, manager, space)
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    assert fake.created_endpoints == []  # the space's endpoint exists: created once per space
    [scored] = [r for r in fake.requests if r.headers["azureml-model-deployment"] == NEW][:1]
    assert scored.method == "POST" and scored.path == "/score"
    assert scored.headers["authorization"] == f"Bearer {KEY}"
    system = manager.dataset(job).system
    assert json.loads(scored.body) == {"input_data": {
        "input_string": [{"role": "system", "content": system}, {"role": "user", "content": SAVED_QUESTION}],
        "parameters": {"do_sample": False, "max_new_tokens": 512}}}
    assert asked(fake, NEW) == asked(fake, CURRENT) and SAVED_QUESTION in asked(fake, CURRENT)

    assert job.score_after == pytest.approx(1.0) and job.score_before < 0.3
    version = new_version(manager, space)
    assert version.active and not manager.store.get_model(space.enterprise_id, current.id).active
    assert (version.score_before, version.score_after) == (job.score_before, job.score_after)
    assert any(event.message.startswith(f"evaluating {NEW} against {CURRENT} on ")
               for event in manager.events(job.id))


def test_a_model_that_answers_worse_is_recorded_but_the_active_deployment_stays(azure_ml):
    fake, manager, space = azure_ml
    current = serving_now(fake, manager, space)
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED, job.error
    assert job.score_before == pytest.approx(1.0) and job.score_after < 0.3
    version = new_version(manager, space)
    assert manager.store.active_model(space.scope).id == current.id
    assert job.message == (f"model {version.id} ({NEW}) not activated: it scored {job.score_after:.3f}, the current "
                           f"model {job.score_before:.3f}; its deployment '{NEW}' is being deleted so that it stops "
                           "billing (`sync.azure_ml.deploy.keep_losers: true` keeps such deployments)")
    assert fake.deleted_deployments == [(NEW, endpoint_of(space))]  # the current model's deployment stays
    assert not version.active and version.awaiting_deployment and version.reference == f"lmspace-{space.id}:1"


def test_a_loser_whose_deployment_cannot_be_deleted_says_it_is_still_billed(azure_ml):
    fake, manager, space = azure_ml
    serving_now(fake, manager, space)
    fake.replies, fake.refuse_deletes = {NEW: says(VAGUE), CURRENT: learnt}, True
    job = manager.sync_to_llm(space=space, wait=True)
    version = new_version(manager, space)
    assert job.status is SyncStatus.SUCCEEDED and not version.active and version.reference == NEW
    assert job.message.endswith(f"; its deployment '{NEW}' was not deleted and is billed while it exists: Azure ML "
                                f"refused to delete deployment '{NEW}' of online endpoint '{endpoint_of(space)}': "
                                f"AuthorizationFailed: no permission to delete {NEW}")


@pytest.mark.parametrize("azure_ml", [("    deploy:\n      keep_losers: true\n", "azureml_chat")], indirect=True)
def test_keep_losers_leaves_the_online_deployment_of_a_worse_model(azure_ml):
    fake, manager, space = azure_ml
    serving_now(fake, manager, space)
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    job = manager.sync_to_llm(space=space, wait=True)
    version = new_version(manager, space)
    assert job.message.endswith(f"the current model {job.score_before:.3f}") and job.score_after < 0.3
    assert fake.deleted_deployments == [] and version.reference == NEW and not version.active


def test_force_activates_a_model_that_answers_worse(azure_ml):
    fake, manager, space = azure_ml
    serving_now(fake, manager, space)
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    job = manager.sync_to_llm(space=space, wait=True, force=True)
    assert new_version(manager, space).active and job.message.endswith("activated (forced)")
    assert fake.deleted_deployments == []


def test_a_deployment_that_cannot_be_scored_leaves_the_model_unactivated_with_what_to_run(azure_ml):
    fake, manager, space = azure_ml
    serving_now(fake, manager, space)
    fake.replies = {CURRENT: learnt}  # the new deployment exists but answers 404 to every question
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED and job.score_after is None
    version = new_version(manager, space)
    assert not version.active
    assert (f"not activated: its evaluation failed: Azure ML deployment '{NEW}' of endpoint '{endpoint_of(space)}' "
            "answered HTTP 404: ") in job.message
    assert (f"`az ml online-deployment get-logs --name {NEW} --endpoint-name {endpoint_of(space)} {WHERE}` shows "
            "what it logged") in job.message
    assert job.message.endswith(f"Retry with `lmspace sync evaluate travel {version.id} --deployment {NEW}`.")


@pytest.mark.parametrize("azure_ml", [("    deploy:\n      timeout_s: 30\n", "azureml_chat")], indirect=True)
def test_cancelling_while_the_model_is_deployed_cancels_the_job_at_once(azure_ml):
    fake, manager, space = azure_ml
    fake.deployment_state = "hold"
    job = manager.sync_to_llm(space=space, wait=False)
    deadline = time.monotonic() + 30
    while not fake.created_deployments and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.created_deployments, "the deployment was never started"
    cancelled_at = time.monotonic()
    manager.cancel(job.id)
    job = manager.wait(job.id, timeout=30)

    assert time.monotonic() - cancelled_at < 5
    assert job.status is SyncStatus.CANCELLED and job.model_id == f"lmspace-{space.id}:1"
    assert job.error.startswith(f"Cancelled while deployment '{NEW}' of lmspace-{space.id}:1 was being created on "
                                "Azure ML")
    assert (f"`az ml online-deployment delete --name {NEW} --endpoint-name {endpoint_of(space)} {WHERE} --yes` "
            "removes it") in job.error
    assert manager.models(space) == []


@pytest.mark.parametrize("azure_ml", [("    deploy:\n      timeout_s: 0.3\n", "azureml_chat")], indirect=True)
def test_a_deployment_unfinished_after_its_timeout_leaves_the_model_to_evaluate_later(azure_ml):
    fake, manager, space = azure_ml
    fake.deployment_state = "hold"
    job = manager.sync_to_llm(space=space, wait=True)

    assert job.status is SyncStatus.SUCCEEDED and job.score_after is None
    [version] = manager.models(space)
    assert not version.active and version.deployment == NEW and version.awaiting_deployment
    show = (f"az ml online-deployment show --name {NEW} --endpoint-name {endpoint_of(space)} {WHERE} "
            "--query provisioning_state")
    assert job.message == (f"model {version.id} not activated: wait until `{show}` says Succeeded, then `lmspace "
                           f"sync evaluate travel {version.id} --deployment {NEW}` (it is activated if it scores "
                           "better than the current model)")
    assert any(f"did not serve within 0.3 s (sync.azure_ml.deploy.timeout_s)" in event.message
               for event in manager.events(job.id))


@pytest.mark.parametrize("azure_ml", [("", "openai_chat")], indirect=True)
def test_without_deploy_settings_the_job_gives_the_commands_then_sync_evaluate_asks_the_deployment(
        azure_ml, tmp_path: Path):
    fake, manager, space = azure_ml
    job = manager.sync_to_llm(space=space, wait=True)
    [version] = manager.models(space)
    deployment_file = manager.settings.data_dir / "sync" / f"online-deployment-{version.id}.yml"

    assert job.status is SyncStatus.SUCCEEDED and not version.active and job.score_after is None
    assert fake.created_endpoints == fake.created_deployments == []
    assert job.message == (
        f"model {version.id} not activated: deploy it to an online endpoint with `az ml online-endpoint create "
        f"--name {endpoint_of(space)} {WHERE}` (once per space) and `az ml online-deployment create --file "
        f"{deployment_file} {WHERE}`, then `lmspace sync evaluate travel {version.id} --deployment {NEW}` (it is "
        "activated if it scores better than the current model)")
    assert deployment_file.read_text() == (
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        f"name: {NEW}\nendpoint_name: {endpoint_of(space)}\nmodel: azureml:lmspace-{space.id}:1\n"
        "instance_type: Standard_NC6s_v3\ninstance_count: 2\n")
    refused = CliRunner().invoke(app, ["--config", str(tmp_path / "lmspace.yaml"), "sync", "activate", "travel",
                                       version.id])
    assert refused.exit_code != 0 and "not deployed yet" in refused.output

    # the user deploys it as the job said, on a model served with the OpenAI-compatible API:
    serving_now(fake, manager, space)
    fake.served.add(NEW)
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}
    evaluated = CliRunner().invoke(app, ["--config", str(tmp_path / "lmspace.yaml"), "sync", "evaluate", "travel",
                                         version.id, "--deployment", NEW, "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    assert result["active"] and result["reference"] == NEW and result["score_after"] == pytest.approx(1.0)
    assert result["score_before"] < 0.3
    scored = next(r for r in fake.requests if r.headers["azureml-model-deployment"] == NEW)
    assert scored.path == "/v1/chat/completions" and scored.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(scored.body) == {"messages": [{"role": "system", "content": manager.dataset(job).system},
                                                    {"role": "user", "content": SAVED_QUESTION}],
                                       "temperature": 0, "max_tokens": 512}
    assert asked(fake, NEW) == asked(fake, CURRENT)


@pytest.mark.parametrize(("job_name", "deployment"), [
    ("ml-job-7", "ft-ml-job-7"),
    ("sincere_pear_8bh4k5hz0m", "ft-sincere-pear-8bh4k5hz0m"),
])
def test_a_deployment_is_named_after_its_job_within_azure_ml_naming_rules(job_name, deployment):
    assert online_deployment_name(job_name) == deployment


def test_long_job_names_keep_distinct_deployment_names_of_at_most_32_characters():
    first = online_deployment_name("a_very_long_azure_ml_job_name_from_a_pipeline_1")
    second = online_deployment_name("a_very_long_azure_ml_job_name_from_a_pipeline_2")
    assert first != second and len(first) <= 32 and len(second) <= 32 and first[0].isalpha()


@pytest.mark.parametrize("azure_ml", [("", "azureml_chat")], indirect=True)
def test_a_model_registered_event_names_the_deployment_steps_and_asks_nothing_before_it_is_deployed(azure_ml):
    fake, manager, space = azure_ml
    job = manager.sync_to_llm(space=space, wait=True)
    topic = "/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-ml"
    handler = EventHandler(manager, [topic])
    reply = handler.deliver(json.dumps([{
        "id": "1", "eventType": "Microsoft.MachineLearningServices.ModelRegistered", "subject": "x", "topic": topic,
        "data": {"modelName": f"lmspace-{space.id}", "modelVersion": "1"}, "dataVersion": "1",
        "eventTime": "2026-11-30T12:00:00Z"}]).encode())

    [version] = manager.models(space)  # the version the sync made, not a second one
    [handled] = reply.body["handled"]
    assert handled.startswith(f"recorded lmspace-{space.id}:1 as model version {version.id}, not activated: deploy it")
    assert f"lmspace sync evaluate travel {version.id} --deployment {NEW}" in handled
    assert fake.requests == [] and manager.job(job.id).message == job.message


def scoring(fake: FakeAzureML, request_format: str = "azureml_chat") -> EndpointChat:
    settings = AzureMLSyncSettings(subscription_id="sub-1", resource_group="rg-ml", workspace="ws-ml",
                                   request_format=request_format)
    fake.endpoints["lmspace-travel"] = object()
    return EndpointChat(fake, settings, "lmspace-travel")


def test_an_endpoint_with_token_authentication_is_asked_with_its_token():
    fake = FakeAzureML(statuses=["Completed"], served={NEW}, replies={NEW: says("Desk F6.")}, token_auth=True)
    with ScoringServer(fake):
        assert scoring(fake)(NEW, [{"role": "user", "content": "Who books flights?"}]) == "Desk F6."
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_reply_in_the_other_format_names_the_setting_to_change():
    fake = FakeAzureML(statuses=["Completed"], served={NEW}, replies={NEW: says("Desk F6.")})
    with ScoringServer(fake):
        chat = scoring(fake, "openai_chat")
        fake.scoring_base += "/not-the-host-root"  # /v1/chat/completions is asked on the host, whatever the path
        assert chat(NEW, [{"role": "user", "content": "Who books flights?"}]) == "Desk F6."
        fake.replies = {NEW: lambda question, taught: {"unexpected": True}}
        with pytest.raises(ModelError, match="set sync.azure_ml.request_format: azureml_chat"):
            scoring(fake, "openai_chat")(NEW, [{"role": "user", "content": "Who books flights?"}])
