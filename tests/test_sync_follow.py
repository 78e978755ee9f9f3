"""What follows a remote fine-tuning job: Event Grid model events go through evaluate-then-switch, a model that is not
deployed cannot be activated by mistake, a deployment wait honours cancel and a timeout, and Azure ML models
deployed by hand get the exact commands that deploy and then evaluate them. Azure OpenAI and Azure Resource Manager are the recording stand-in of
tests/fake_azure_openai.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmspace_core.cli import app
from lmspace_core.config import load_config
from lmspace_core.sync.events import EventHandler
from lmspace_core.sync.manager import SyncManager
from lmspace_core.sync.model import SyncStatus
from lmspace_core.workspace import Workspace
from tests.test_sync_evaluate import (
    CURRENT,
    FINE_TUNED,
    NEW,
    VAGUE,
    StaticToken,
    asked,
    learnt,
    open_space,
    says,
    service,  # noqa: F401  (a fixture)
)
from tests.test_sync_events import TOPIC, deliver, event

MODEL_READY = "LMSpace.Sync.ModelReady"


@pytest.fixture
def undeployed(tmp_path: Path, service):  # noqa: F811
    """A space whose Azure OpenAI sync succeeded without deployment settings: its model awaits deployment as NEW."""
    fake, endpoint = service
    workspace, space = open_space(tmp_path, endpoint, deploy=False)
    manager = SyncManager(workspace)
    job = manager.sync_to_llm(space=space, wait=True)
    [version] = manager.models(space)
    assert job.status is SyncStatus.SUCCEEDED and version.awaiting_deployment and version.deployment == NEW
    yield fake, manager, version
    manager.close()
    workspace.close()


def test_a_model_ready_event_evaluates_a_better_model_and_activates_it(undeployed):
    fake, manager, version = undeployed
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}  # the deployment now exists
    reply = deliver(EventHandler(manager, [TOPIC]), event(MODEL_READY, {"space": "travel", "model_id": FINE_TUNED}))

    assert reply.status == 200 and reply.body["handled"] == [f"activated {NEW}"]
    [evaluated] = manager.models("travel")
    assert evaluated.active and evaluated.reference == NEW
    assert evaluated.score_after == pytest.approx(1.0) and evaluated.score_before < 0.3
    job = manager.job(version.job_id)
    assert (job.score_before, job.score_after) == (evaluated.score_before, evaluated.score_after)
    assert asked(fake, NEW) == asked(fake, CURRENT) != []


def test_a_model_ready_event_for_a_worse_model_records_both_scores_but_does_not_activate_it(undeployed):
    fake, manager, version = undeployed
    fake.replies = {NEW: says(VAGUE), CURRENT: learnt}
    handler = EventHandler(manager, [TOPIC])
    reply = deliver(handler, event(MODEL_READY, {"space": "travel", "model_id": NEW}))  # named by its deployment

    [evaluated] = manager.models("travel")
    assert not evaluated.active and manager.store.active_model(evaluated_scope(manager)) is None
    assert evaluated.score_before == pytest.approx(1.0) and evaluated.score_after < 0.3
    assert reply.body["handled"] == [f"model {version.id} ({NEW}) not activated: it scored "
                                     f"{evaluated.score_after:.3f}, the current model {evaluated.score_before:.3f}"]

    questions = len(fake.requests)
    deliver(handler, event(MODEL_READY, {"space": "travel", "model_id": NEW}))  # Event Grid delivers at least once
    assert len(fake.requests) == questions, "a model already evaluated is not asked again"

    forced = manager.pull_llm_updates(FINE_TUNED, "travel", force=True)
    assert forced.active and forced.id == version.id


def test_a_delivery_retried_while_its_model_is_evaluated_does_not_evaluate_it_again(undeployed):
    fake, manager, version = undeployed
    fake.replies = {NEW: learnt, CURRENT: says(VAGUE)}
    handler = EventHandler(manager, [TOPIC])
    ready = event(MODEL_READY, {"space": "travel", "model_id": FINE_TUNED})
    with ThreadPoolExecutor(3) as pool:  # Event Grid retries what it had no answer to within 30 s
        replies = list(pool.map(lambda _: deliver(handler, ready), range(3)))

    assert [reply.body["handled"] for reply in replies] == [[f"activated {NEW}"]] * 3
    questions = len(manager.dataset(manager.job(version.job_id)).validation) + 1
    assert len(asked(fake, NEW)) == len(asked(fake, CURRENT)) == questions


def evaluated_scope(manager: SyncManager):
    return manager.space("travel").scope


def test_an_event_for_a_model_no_sync_made_is_recorded_but_not_activated(undeployed):
    _, manager, version = undeployed
    reply = deliver(EventHandler(manager, [TOPIC]), event(MODEL_READY, {"space": "travel", "model_id": "ft-7"}))
    external = next(v for v in manager.models("travel") if v.id != version.id)
    assert not external.active and external.reference == "ft-7"
    assert reply.body["handled"] == [
        f"recorded ft-7 as model version {external.id}, not activated: no sync of this space made it, so there are "
        f"no held-out questions to evaluate it on; `lmspace sync activate travel {external.id}` switches to it as "
        "it is"]


def test_activating_a_model_that_is_not_deployed_is_refused_with_the_commands_unless_forced(tmp_path, undeployed):
    _, manager, version = undeployed
    config = str(tmp_path / "lmspace.yaml")
    refused = CliRunner().invoke(app, ["--config", config, "sync", "activate", "travel", version.id])

    assert refused.exit_code == 8
    message = " ".join(refused.output.split())
    assert f"Model version {version.id} is the fine-tuned model {FINE_TUNED}, which is not deployed yet" in message
    assert (f"az cognitiveservices account deployment create --name <azure-openai-account> --resource-group "
            f"<resource-group> --deployment-name {NEW} --model-name {FINE_TUNED}") in message
    assert f"`lmspace sync evaluate travel {version.id} --deployment {NEW}`" in message
    assert "Traceback" not in refused.output
    assert not manager.store.get_model(version.enterprise_id, version.id).active

    forced = CliRunner().invoke(app, ["--config", config, "sync", "activate", "travel", version.id, "--force"])
    assert forced.exit_code == 0, forced.output
    assert manager.store.get_model(version.enterprise_id, version.id).active


def test_the_sync_jobs_page_refuses_to_activate_a_model_that_is_not_deployed(tmp_path, undeployed, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP, read

    _, manager, version = undeployed
    monkeypatch.setenv("LMSPACE_CONFIG", str(tmp_path / "lmspace.yaml"))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP).run(timeout=30)
        at = at.switch_page("pages/sync_jobs.py").run(timeout=30)
        models = next(table.value for table in at.dataframe if "Deployment" in table.value)
        assert models["Model"].tolist() == [FINE_TUNED] and models["Deployment"].tolist() == [NEW]
        next(button for button in at.button if button.label == "Activate").click().run(timeout=60)
        assert not at.exception
        [error] = at.error
        shown = read(error.value)
        assert "which is not deployed yet" in shown and f"--deployment {NEW}" in shown
    finally:
        st.cache_resource.clear()
    assert not manager.store.get_model(version.enterprise_id, version.id).active


DEPLOY_TIMEOUT = "      timeout_s: 0.5\n"


@pytest.fixture
def deploying(tmp_path: Path, service, monkeypatch, request):  # noqa: F811
    """A space whose sync deploys its model, and a deployment operation that never finishes."""
    fake, endpoint = service
    fake.deployment_state = "Creating"
    monkeypatch.setattr("lmspace_core.stores.azure.clients.default_credential", StaticToken)
    workspace, space = open_space(tmp_path, endpoint, deploy=True, extra=getattr(request, "param", ""))
    manager = SyncManager(workspace)
    yield fake, manager, space
    manager.close()
    workspace.close()


@pytest.mark.parametrize("deploying", [DEPLOY_TIMEOUT], indirect=True, ids=["timeout_s 0.5"])
def test_a_deployment_that_does_not_serve_in_time_leaves_the_model_unactivated_with_the_next_step(deploying):
    fake, manager, space = deploying
    job = manager.wait(manager.sync_to_llm(space=space, wait=False).id, timeout=30)  # never waits for ever
    assert job.status is SyncStatus.SUCCEEDED and job.model_id == FINE_TUNED and job.score_after is None
    [version] = manager.models(space)
    assert not version.active and version.awaiting_deployment
    assert any(f"Deployment '{NEW}' of {FINE_TUNED} in account 'acme-openai' did not serve within 0.5 s "
               "(sync.azure_openai.deploy.timeout_s)" in e.message for e in manager.events(job.id))
    assert job.message == (
        f"model {version.id} not activated: wait until `az cognitiveservices account deployment show --name "
        f"acme-openai --resource-group rg-ai --deployment-name {NEW} --query properties.provisioningState` says "
        f"Succeeded, then `lmspace sync evaluate travel {version.id} --deployment {NEW}` (it is activated if it "
        "scores better than the current model)")
    assert asked(fake, NEW) == []


def test_cancelling_while_the_model_is_being_deployed_cancels_the_job(deploying):
    fake, manager, space = deploying
    job = manager.sync_to_llm(space=space, wait=False)
    deadline = time.monotonic() + 30
    while not any(r.method == "PUT" for r in fake.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the operation is being polled: the deployment is under way
    manager.cancel(job.id)
    cancelled_at = time.monotonic()
    job = manager.wait(job.id, timeout=30)

    assert time.monotonic() - cancelled_at < 5
    assert job.status is SyncStatus.CANCELLED and job.model_id == FINE_TUNED
    assert job.error.startswith(f"Cancelled while deployment '{NEW}' of {FINE_TUNED} was being created in account "
                                "'acme-openai'")
    assert f"az cognitiveservices account deployment delete --name acme-openai --resource-group rg-ai " \
           f"--deployment-name {NEW}" in job.error
    assert manager.models(space) == []


class RegisteredModel:
    """An Azure ML backend without deploy settings whose fine-tuning job has already registered its model when it is
    polled again: the model is to be served by deployment ft-run-9."""

    name, model_kind = "azure_ml", "deployment"

    def resume(self, remote_id, reporter):
        from lmspace_core.sync.backends.base import Outcome

        return Outcome(SyncStatus.SUCCEEDED, model_id="lmspace-travel-ft:2", deployment="ft-run-9")


@pytest.fixture
def registered(app_workspace):
    """An Azure ML sync job of the dashboard's workspace that ended with a registered model."""
    space = app_workspace.create_space("travel")
    manager = SyncManager(app_workspace, backends={"azure_ml": lambda _: RegisteredModel()})
    job = manager.store.create_job(space.scope, "azure_ml", "a process that stopped")
    manager.store.update_job(job.enterprise_id, job.id, SyncStatus.RUNNING, "running", remote_id="run-9")
    manager.poll_remote("run-9")
    yield manager, manager.wait(job.id, timeout=30)
    manager.close()


def test_an_azure_ml_model_ends_its_job_with_the_online_deployment_commands(registered):
    manager, job = registered
    [version] = manager.models("travel")
    deployment_file = manager.settings.data_dir / "sync" / f"online-deployment-{version.id}.yml"
    where = "--resource-group <resource-group> --workspace-name <workspace>"
    endpoint = f"lmspace-{version.space_id[:16]}"
    assert job.status is SyncStatus.SUCCEEDED and not version.active
    assert job.message == (
        f"model {version.id} not activated: deploy it to an online endpoint with `az ml online-endpoint create "
        f"--name {endpoint} {where}` (once per space) and `az ml online-deployment create --file {deployment_file} "
        f"{where}`, then `lmspace sync evaluate travel {version.id} --deployment ft-run-9` (it is "
        "activated if it scores better than the current model)")
    assert manager.events(job.id)[-1].message == job.message
    assert deployment_file.read_text() == (
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        f"name: ft-run-9\nendpoint_name: {endpoint}\nmodel: azureml:lmspace-travel-ft:2\n"
        "instance_type: Standard_NC24ads_A100_v4\ninstance_count: 1\n")


def test_the_sync_jobs_page_offers_to_evaluate_an_azure_ml_model_under_its_deployment_name(registered):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP).run(timeout=30)
    at = at.switch_page("pages/sync_jobs.py").run(timeout=30)
    assert not at.exception and not at.error
    assert any(button.label == "Evaluate" for button in at.button)
    box = next(box for box in at.text_input if box.label == "Deployment serving this model")
    assert box.value == "ft-run-9"  # the name the job's commands deploy it under
