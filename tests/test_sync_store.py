"""The sync store on both backends (SQLite, and Table Storage + Blob Storage on Azurite): every call stays inside
its enterprise, and concurrent writers never lose or reuse an event; then what only the Azure store must prove."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ServiceResponseError

from lmspace_core.domain import ChangeKind, Scope
from lmspace_core.errors import NotFoundError
from lmspace_core.config import load_config
from lmspace_core.stores.azure.blobs import AzureBlobStore
from lmspace_core.stores.azure.clients import build_clients
from lmspace_core.sync.model import AutoSyncHold, Dataset, DeltaItem, Example, Metric, ModelVersion, Split, SyncStatus
from lmspace_core.sync.store import SyncUnderWayError, new_id
from lmspace_core.sync.table_store import TableSyncStore
from lmspace_core.workspace import Workspace, build_sync_store
from tests.conftest import azure_environment, write_config


@pytest.fixture
def spaces(settings, backend) -> dict[str, Scope]:
    """Spaces of the same name in two enterprises, and a second space in the first."""
    found = {}
    for enterprise, name in (("acme", "travel"), ("globex", "travel"), ("acme", "hr")):
        workspace = Workspace(settings, enterprise)
        found[f"{enterprise}/{name}"] = workspace.create_space(name).scope
        workspace.close()
    return found


@pytest.fixture
def store(settings, spaces):
    return build_sync_store(settings)


@pytest.fixture
def acme(spaces) -> Scope:
    return spaces["acme/travel"]


@pytest.fixture
def globex(spaces) -> Scope:
    return spaces["globex/travel"]


def dataset(scope: Scope) -> Dataset:
    example = Example("Who books flights?", "The travel desk.", "The travel desk books flights.", "doc-1",
                      "travel.md", "heading", Split.VALIDATION, tokens=12)
    return Dataset(new_id(), scope.enterprise_id, scope.space_id, "Answer briefly.", 0, 7, (example,),
                   datetime.now(UTC))


def model(scope: Scope, reference: str) -> ModelVersion:
    return ModelVersion(new_id(), scope.enterprise_id, scope.space_id, None, None, "external", "deployment",
                        reference, None, None, False, datetime.now(UTC))


def test_jobs_datasets_and_models_are_seen_only_in_their_own_enterprise(store, acme, globex):
    job = store.create_job(acme, "azure_openai", "host:1")
    store.update_job("acme", job.id, SyncStatus.RUNNING, "running", remote_id="ftjob-1")
    store.record_metrics("acme", job.id, [Metric(1, 0.9)])
    saved = dataset(acme)
    store.save_dataset(saved, [DeltaItem("doc-1", "travel.md", 2, "h1", ChangeKind.ADDED)])
    version = store.add_model(model(acme, "ft-acme"))

    for foreign in (lambda: store.get_job("globex", job.id),
                    lambda: store.update_job("globex", job.id, SyncStatus.FAILED, "no"),
                    lambda: store.add_event("globex", job.id, SyncStatus.RUNNING, "no"),
                    lambda: store.record_metrics("globex", job.id, [Metric(2, 0.1)]),
                    lambda: store.get_dataset("globex", saved.id),
                    lambda: store.get_model("globex", version.id)):
        with pytest.raises(NotFoundError, match="globex"):
            foreign()
    assert store.events("globex", job.id) == [] and store.metrics("globex", job.id) == []
    assert store.list_jobs("globex") == [] and store.job_by_remote_id("globex", "ftjob-1") is None
    assert store.lineage("globex", saved.id) == [] and store.list_models(globex) == []
    assert not store.cancel_requested("globex", job.id)

    assert store.get_job("acme", job.id).status is SyncStatus.RUNNING
    assert [e.message for e in store.events("acme", job.id)] == ["created on the azure_openai backend", "running"]
    assert store.get_dataset("acme", saved.id) == saved
    assert [i.content_hash for i in store.lineage("acme", saved.id)] == ["h1"]
    assert [m.reference for m in store.list_models(acme)] == ["ft-acme"]


def test_only_the_managers_own_enterprise_has_its_orphans_taken_over(store, acme, globex):
    acme_job = store.create_job(acme, "local", "host:dead")
    globex_job = store.create_job(globex, "local", "host:dead")
    assert store.claim_orphans("acme", "host:me", owner_alive=lambda owner: False) == []
    assert store.get_job("acme", acme_job.id).status is SyncStatus.INTERRUPTED
    assert store.get_job("globex", globex_job.id).status is SyncStatus.CREATED


def test_a_remote_orphan_is_claimed_by_one_process_only(store, acme):
    job = store.create_job(acme, "azure_openai", "host:dead")
    store.update_job("acme", job.id, SyncStatus.RUNNING, remote_id="ftjob-9")
    owners = {"host:dead": False, "host:first": True}
    first = store.claim_orphans("acme", "host:first", owner_alive=lambda owner: owners[owner])
    second = store.claim_orphans("acme", "host:second", owner_alive=lambda owner: owners[owner])
    assert [claimed.id for claimed in first] == [job.id] and second == []
    assert store.get_job("acme", job.id).status is SyncStatus.RUNNING


def test_concurrent_writers_never_lose_or_reuse_an_event_number(store, acme):
    job = store.create_job(acme, "local", "host:1")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: store.add_event("acme", job.id, SyncStatus.RUNNING, f"step {n}"), range(16)))
    events = store.events("acme", job.id)
    assert [event.sequence for event in events] == list(range(1, 18))
    assert sorted(event.message for event in events[1:]) == sorted(f"step {n}" for n in range(16))
    assert [event.sequence for event in store.events("acme", job.id, after_sequence=15)] == [16, 17]


def test_a_finished_job_keeps_its_status_when_a_late_poll_reports_running(store, acme):
    job = store.create_job(acme, "azure_openai", "host:1")
    store.update_job("acme", job.id, SyncStatus.CANCELLED, "cancelled on request")
    late = store.update_job("acme", job.id, SyncStatus.RUNNING, "", model_id="ft-late")
    assert late.status is SyncStatus.CANCELLED and late.finished_at is not None and late.model_id == "ft-late"


def test_a_space_has_at_most_one_unfinished_job_and_a_second_start_is_told_which(store, spaces, acme, globex):
    first = store.create_job(acme, "local", "host:1")
    store.update_job("acme", first.id, SyncStatus.RUNNING, "training")
    with pytest.raises(SyncUnderWayError) as refused:
        store.create_job(acme, "azure_openai", "host:2")
    assert refused.value.job.id == first.id and refused.value.exit_code == 5
    assert f"`lmspace sync cancel {acme.space_id} --job {first.id}`" in str(refused.value)
    assert f"sync job {first.id} under way (running on the local backend" in str(refused.value)
    assert [job.id for job in store.list_jobs("acme", acme.space_id)] == [first.id]
    store.create_job(globex, "local", "host:1")  # the same space name in another enterprise, and another space
    store.create_job(spaces["acme/hr"], "local", "host:1")
    store.update_job("acme", first.id, SyncStatus.SUCCEEDED, "done")
    second = store.create_job(acme, "local", "host:dead")
    store.claim_orphans("acme", "host:me", owner_alive=lambda owner: owner != "host:dead")
    assert store.get_job("acme", second.id).status is SyncStatus.INTERRUPTED  # an interrupted job does not block
    assert store.create_job(acme, "local", "host:3").status is SyncStatus.CREATED


def test_of_processes_starting_a_sync_of_one_space_at_once_exactly_one_gets_a_job(settings, acme):
    stores = [build_sync_store(settings) for _ in range(4)]  # each with its own connections, as processes have

    def start(store):
        try:
            return store.create_job(acme, "local", "host:1")
        except SyncUnderWayError as refused:
            return refused

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            outcomes = list(pool.map(start, stores))
    finally:
        for store in stores:
            store.close()
    [created] = [outcome for outcome in outcomes if not isinstance(outcome, SyncUnderWayError)]
    assert [outcome.job.id for outcome in outcomes if outcome is not created] == [created.id] * 3


def test_a_jobs_progress_is_kept_without_logging_an_event_per_step(store, acme):
    job = store.create_job(acme, "local", "host:1")
    assert (job.steps_done, job.steps_total, job.progress) == (None, None, None)
    store.update_job("acme", job.id, SyncStatus.RUNNING, "training")
    store.update_job("acme", job.id, steps_done=3, steps_total=12)
    job = store.get_job("acme", job.id)
    assert (job.steps_done, job.steps_total, job.progress) == (3, 12, 0.25)
    assert [event.message for event in store.events("acme", job.id)][-1] == "training"


def test_activating_a_version_deactivates_the_others_of_that_space_only(store, spaces, acme):
    first, second = store.add_model(model(acme, "ft-1")), store.add_model(model(acme, "ft-2"))
    hr = spaces["acme/hr"]
    other = store.add_model(model(hr, "ft-other"))
    store.activate_model(hr, other.id)
    store.activate_model(acme, first.id)
    store.activate_model(acme, second.id)
    assert [(m.reference, m.active) for m in store.list_models(acme)] == [("ft-2", True), ("ft-1", False)]
    assert store.active_model(hr).id == other.id
    store.activate_model(acme, None)
    assert store.active_model(acme) is None


class LosesAnswers:
    """A Table service whose transactions commit but, `lose` times, drop the answer (a connection reset)."""

    def __init__(self, service) -> None:
        self._service, self.lose = service, 0

    def create_table_if_not_exists(self, name: str):
        return self._service.create_table_if_not_exists(name)

    def get_table_client(self, name: str):
        table, owner = self._service.get_table_client(name), self

        class Table:
            def __getattr__(self, attribute):
                return getattr(table, attribute)

            def submit_transaction(self, operations):
                result = table.submit_transaction(operations)
                if owner.lose:
                    owner.lose -= 1
                    raise ServiceResponseError("the connection was reset after the commit")
                return result

        return Table()


def test_on_azure_a_transaction_whose_answer_was_lost_is_applied_once(tmp_path, azure_emulators):
    settings = load_config(write_config(tmp_path), env=azure_environment(azure_emulators)).store.azure
    clients = build_clients(settings)
    service = LosesAnswers(clients.tables)
    store = TableSyncStore(service, settings.jobs_table, AzureBlobStore(clients.blobs, settings.blob_container))
    acme = Scope("acme", "travel")  # the Azure store does not check that the space exists
    service.lose = 1
    job = store.create_job(acme, "local", "host:1")
    service.lose = 1
    store.update_job("acme", job.id, SyncStatus.RUNNING, "training started")
    service.lose = 1
    store.add_event("acme", job.id, SyncStatus.RUNNING, "step 1")
    assert [(e.sequence, e.message) for e in store.events("acme", job.id)] == [
        (1, "created on the local backend"), (2, "training started"), (3, "step 1")]
    assert [j.id for j in store.list_jobs("acme")] == [job.id]


def test_an_evaluation_records_the_deployment_and_both_scores_of_a_version(store, acme):
    version = store.add_model(replace(model(acme, "gpt-4o-mini.ft-1"), deployment="travel-ft-1"))
    assert version.awaiting_deployment
    store.activate_model(acme, version.id)
    evaluated = store.record_evaluation("acme", version.id, "travel-ft-1", None, 0.8)
    assert (evaluated.reference, evaluated.score_before, evaluated.score_after) == ("travel-ft-1", None, 0.8)
    assert evaluated.deployment == "travel-ft-1" and not evaluated.awaiting_deployment
    assert store.get_model("acme", version.id) == evaluated and evaluated.active
    with pytest.raises(NotFoundError):
        store.record_evaluation("globex", version.id, "travel-ft-1", 0.5, 0.8)


def test_a_version_whose_deployment_was_deleted_awaits_a_deployment_again_with_its_scores(store, acme):
    version = store.add_model(replace(model(acme, "gpt-4o-mini.ft-1"), deployment="travel-ft-1"))
    store.record_evaluation("acme", version.id, "travel-ft-1", 0.8, 0.3)
    undeployed = store.record_undeployed("acme", version.id, "gpt-4o-mini.ft-1")
    assert (undeployed.reference, undeployed.deployment) == ("gpt-4o-mini.ft-1", "travel-ft-1")
    assert undeployed.awaiting_deployment and (undeployed.score_before, undeployed.score_after) == (0.8, 0.3)
    assert store.get_model("acme", version.id) == undeployed
    with pytest.raises(NotFoundError):
        store.record_undeployed("globex", version.id, "gpt-4o-mini.ft-1")


def test_an_automatic_sync_state_is_saved_only_over_the_version_it_was_read_at(store, acme, globex):
    fresh = store.auto_sync_state(acme)
    assert (fresh.version, fresh.request_id, fresh.hold) == (0, None, None)
    now = datetime.now(UTC)
    hold = AutoSyncHold("dataset refused: only 3 training example(s)", 2, "job-1", 4, 9, now, now + timedelta(hours=1))
    first = store.save_auto_sync_state(acme, replace(fresh, request_id="r1", requested_at=now, hold=hold))
    assert first is not None and first.version == 1
    assert store.save_auto_sync_state(acme, replace(fresh, request_id="r2")) is None, "another process was first"
    assert store.auto_sync_state(acme) == first

    second = store.save_auto_sync_state(acme, replace(first, running=True))
    assert second is not None and store.auto_sync_state(acme) == second and second.version == 2
    assert store.save_auto_sync_state(acme, replace(first, request_id=None)) is None
    assert store.auto_sync_state(globex).version == 0, "each enterprise has its own"
