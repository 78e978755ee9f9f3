"""What only the Azure backend must prove: tenant isolation under many random queries, retries on throttling that
never duplicate, errors that are not retried, secrets kept out of messages, and job ids that list newest first."""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lmspace_core.config import load_config
from lmspace_core.domain import ChunkDraft, Location, Outcome, Scope, SearchFilter
from lmspace_core.errors import BackendError, ConfigError, NotFoundError
from lmspace_core.stores.azure.jobs import newest_first_id
from lmspace_core.stores.base import DocumentDraft
from lmspace_core.workspace import build_stores
from tests.conftest import azure_environment, write_config

DIM = 8
ENTERPRISES = ("acme", "globex", "initech")


def random_draft(rng: random.Random, enterprise: str, source: str, chunks: int, doc_type: str = "text",
                 tags: tuple[str, ...] = ()) -> DocumentDraft:
    vectors = np.asarray([[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(chunks)], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = tuple(ChunkDraft(f"{enterprise} {source} chunk {i}", Location(start_line=i + 1)) for i in range(chunks))
    return DocumentDraft(source, source, doc_type, tags, f"{enterprise}-{source}-{chunks}", 10, None, texts, vectors)


@pytest.fixture
def azure_settings(tmp_path, azure_emulators):
    return load_config(write_config(tmp_path), env=azure_environment(azure_emulators))


@pytest.fixture
def azure(azure_settings):
    store, _, _ = build_stores(azure_settings)
    yield store
    store.close()


def test_10000_random_queries_never_return_another_enterprises_chunks(azure, azure_settings):
    rng = random.Random(7)
    spaces = {}
    for enterprise in ENTERPRISES:
        for name in ("policies", "code"):  # the same space names in every enterprise
            space = azure.create_space(enterprise, name, "", "", "test-embedder", DIM)
            azure.put_documents(space.scope, [
                random_draft(rng, enterprise, f"{name}-{i}.txt", 3, doc_type=rng.choice(["text", "code"]),
                             tags=tuple(rng.sample(["hr", "it", "2026"], rng.randint(0, 2))))
                for i in range(8)
            ])
            spaces[(enterprise, name)] = space
    queries = [
        (
            rng.choice(list(spaces)),
            np.asarray([rng.gauss(0, 1) for _ in range(DIM)], dtype=np.float32),
            rng.randint(1, 12),
            rng.choice([SearchFilter(), SearchFilter(doc_types=("code",)), SearchFilter(tags=("hr",))]),
        )
        for _ in range(10_000)
    ]

    # One store (one Cosmos client) per worker thread, as four dashboard processes would have: a store runs its
    # queries one at a time (see CosmosKnowledgeStore._query_lock).
    stores = [build_stores(azure_settings)[0] for _ in range(4)]
    workers = list(stores)
    local = threading.local()

    def foreign_hits(query) -> tuple[int, int]:
        (enterprise, name), vector, k, search_filter = query
        scope = spaces[(enterprise, name)].scope
        if not hasattr(local, "store"):
            local.store = workers.pop()
        hits = local.store.search(scope, vector / np.linalg.norm(vector), k, search_filter)
        return len(hits), sum(
            1 for hit in hits
            if not (hit.chunk.enterprise_id == hit.document.enterprise_id == enterprise
                    and hit.chunk.space_id == hit.document.space_id == scope.space_id
                    and hit.chunk.text.startswith(f"{enterprise} {name}-"))
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(foreign_hits, queries))
    for store in stores:
        store.close()
    print(f"{len(queries)} queries in {time.perf_counter() - started:.1f} s")
    assert sum(found for found, _ in results) > len(queries)  # the queries did find things
    assert sum(foreign for _, foreign in results) == 0
    acme = spaces[("acme", "policies")]
    for other in ENTERPRISES[1:]:  # another enterprise naming acme's space id finds no such space
        with pytest.raises(NotFoundError):
            azure.search(Scope(other, acme.id), np.ones(DIM, dtype=np.float32), 5)
        with pytest.raises(NotFoundError):
            azure.get_space(Scope(other, acme.id))


@pytest.fixture
def azure_space(azure):
    return azure.create_space("acme", "policies", "", "", "test-embedder", DIM)


def test_throttled_writes_are_retried_after_the_time_cosmos_asks_for(azure, azure_space, azure_emulators):
    before = azure_emulators.cosmos_stats().get("fault_429", 0)
    azure_emulators.inject_cosmos_fault(429, count=3, operations=("batch",), retry_after_ms=500)
    started = time.perf_counter()
    [stored] = azure.put_documents(azure_space.scope, [random_draft(random.Random(1), "acme", "a.txt", 4)])
    # Three waits of 500 ms, as x-ms-retry-after-ms said; the backoff used without the header waits at most
    # 0.2 + 0.4 + 0.8 s in all, so only a policy that reads the header reaches 1.5 s here.
    assert time.perf_counter() - started >= 1.5
    assert azure_emulators.cosmos_stats()["fault_429"] - before == 3
    assert stored.outcome is Outcome.ADDED
    assert len(azure.list_chunks(azure_space.scope)) == 4
    assert [change.source for change in azure.changes(azure_space.scope)] == ["a.txt"]


def test_a_write_applied_but_unanswered_is_not_duplicated_by_its_retry(azure, azure_space, azure_emulators):
    rng = random.Random(2)
    azure_emulators.inject_cosmos_fault(503, count=1, operations=("batch",), apply=True)
    [stored] = azure.put_documents(azure_space.scope, [random_draft(rng, "acme", "a.txt", 150)])  # 2 batches
    azure_emulators.inject_cosmos_fault(503, count=2, operations=("batch",), apply=True)
    [replaced] = azure.put_documents(azure_space.scope, [random_draft(rng, "acme", "a.txt", 5)])
    assert (stored.outcome, replaced.outcome, replaced.document.version) == (Outcome.ADDED, Outcome.REPLACED, 2)
    assert [(c.kind.value, c.version) for c in azure.changes(azure_space.scope)] == [("added", 1), ("replaced", 2)]
    assert len(azure.list_chunks(azure_space.scope)) == 5
    assert azure.space_stats(azure_space.scope).chunks == 5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412])
def test_client_errors_are_not_retried(azure, azure_space, azure_emulators, status):
    before = azure_emulators.cosmos_stats().get(f"fault_{status}", 0)
    azure_emulators.inject_cosmos_fault(status, count=2, operations=("query",))
    with pytest.raises(BackendError) as caught:
        azure.list_documents(azure_space.scope)
    served = azure_emulators.cosmos_stats()[f"fault_{status}"] - before
    azure_emulators.clear_cosmos_faults()
    assert served == 1
    assert azure_emulators.cosmos_key not in str(caught.value)
    if status in (401, 403):
        assert "Cosmos DB Built-in Data Contributor" in str(caught.value)


def test_reembedding_with_another_dimension_moves_the_space(azure, azure_space, azure_settings):
    scope = azure_space.scope
    azure.put_documents(scope, [random_draft(random.Random(3), "acme", "a.txt", 3)])
    chunks = azure.list_chunks(scope)
    azure.replace_vectors(scope, "other-embedder", np.eye(4, dtype=np.float32)[:3], [c.id for c in chunks])
    fresh, _, _ = build_stores(azure_settings)  # another process: nothing cached
    assert fresh.get_space(scope).embedder_id == "other-embedder"
    [hit] = fresh.search(scope, np.eye(4, dtype=np.float32)[1], 1)
    assert (hit.chunk.id, round(hit.score, 4)) == (chunks[1].id, 1.0)
    assert [c.source for c in fresh.changes(scope)] == ["a.txt"]
    assert fresh.space_stats(scope).chunks == 3
    fresh.close()


def test_job_ids_made_within_one_millisecond_still_list_newest_first():
    made = [newest_first_id() for _ in range(1000)]  # a burst: many share a millisecond of the wall clock
    assert sorted(made) == made[::-1]


def test_tenant_data_is_never_queried_across_partitions(azure, azure_emulators):
    """Every query about a space names its enterprise's partition; only the administrative list of enterprises
    crosses partitions (the emulator counts queries sent without a partition key)."""
    rng = random.Random(4)

    def crossing() -> int:
        return azure_emulators.cosmos_stats().get("query_cross_partition", 0)

    before = crossing()
    space = azure.create_space("acme", "policies", "", "", "test-embedder", DIM)
    scope = space.scope
    azure.put_documents(scope, [random_draft(rng, "acme", f"{n}.txt", 3, tags=("hr",)) for n in range(3)])
    azure.search(scope, np.ones(DIM, dtype=np.float32), 5)
    azure.search(scope, np.ones(DIM, dtype=np.float32), 5, SearchFilter(doc_types=("text",), tags=("hr",)))
    assert azure.find_space("acme", "policies") == azure.get_space(scope)
    assert [space.name for space in azure.list_spaces("acme")] == ["policies"]
    documents = azure.list_documents(scope)
    azure.list_chunks(scope, documents[0].id)
    azure.list_chunk_vectors(scope)
    azure.snapshot(scope)
    azure.changes(scope)
    azure.space_stats(scope)
    azure.delete_document(scope, documents[0].id)
    azure.delete_space(scope)
    assert crossing() == before
    azure.list_enterprises()
    assert crossing() == before + 1  # the counter sees a query that does cross


def test_a_container_the_identity_may_not_create_names_what_to_grant_or_create(azure_settings, azure_emulators):
    store, _, _ = build_stores(azure_settings)  # a fresh database: its containers do not exist yet
    azure_emulators.inject_cosmos_fault(403, count=1, operations=("create_container",))
    try:
        with pytest.raises(BackendError) as caught:
            store.list_spaces("acme")
    finally:
        azure_emulators.clear_cosmos_faults()
        store.close()
    message = str(caught.value)
    assert "Cosmos DB Built-in Data Contributor" in message  # the data-plane role the identity needs anyway
    assert "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/write" in message  # what creating needs
    assert "docs/azure.md" in message and azure_emulators.cosmos_key not in message


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("LMSPACE_STORE__AZURE__COSMOS_KEY", "not*base64SeCrEt", "store.azure.cosmos_key"),
    ("LMSPACE_STORE__AZURE__CONNECTION_STRING", "garbage;AccountKey=SeCrEt", "store.azure.connection_string"),
    ("LMSPACE_STORE__AZURE__CONNECTION_STRING", "AccountKey=SeCrEt", "store.azure.connection_string"),
])
def test_a_malformed_key_or_connection_string_is_a_configuration_error_that_shows_no_secret(
        tmp_path, monkeypatch, variable, value, named):
    from typer.testing import CliRunner

    from lmspace_core.cli import app

    environment = {"LMSPACE_STORE__BACKEND": "azure", "LMSPACE_STORE__AZURE__COSMOS_ENDPOINT": "https://127.0.0.1:9/",
                   "LMSPACE_STORE__AZURE__COSMOS_KEY": "QUJDRA==",
                   "LMSPACE_STORE__AZURE__CONNECTION_STRING": "UseDevelopmentStorage=true", variable: value}
    for name, setting in environment.items():
        monkeypatch.setenv(name, setting)
    result = CliRunner().invoke(app, ["--config", str(write_config(tmp_path)), "spaces", "list"])
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code == ConfigError.exit_code, result.output
    assert named in result.output
    assert "SeCrEt" not in result.output


@pytest.mark.parametrize("configured", [None, "diskANN"])
def test_content_containers_are_partitioned_by_enterprise_with_the_embedder_s_vector_policy(
        tmp_path, azure_emulators, configured):
    from azure.cosmos import CosmosClient

    environment = azure_environment(azure_emulators)
    if configured:
        environment["LMSPACE_STORE__AZURE__VECTOR_INDEX"] = configured
    store, _, _ = build_stores(load_config(write_config(tmp_path), env=environment))
    try:
        store.create_space("acme", "policies", "", "", "test-embedder", DIM)
    finally:
        store.close()
    database = CosmosClient(azure_emulators.cosmos_endpoint, azure_emulators.cosmos_key).get_database_client(
        environment["LMSPACE_STORE__AZURE__COSMOS_DATABASE"])
    content = database.get_container_client(f"content_{DIM}").read()
    assert content["partitionKey"]["paths"] == ["/enterprise_id"]
    assert content["vectorEmbeddingPolicy"]["vectorEmbeddings"] == [
        {"path": "/embedding", "dataType": "float32", "distanceFunction": "cosine", "dimensions": DIM}]
    assert content["indexingPolicy"]["vectorIndexes"] == [{"path": "/embedding", "type": configured or "quantizedFlat"}]
    assert database.get_container_client("spaces").read()["partitionKey"]["paths"] == ["/enterprise_id"]


def test_the_sdks_do_not_log_every_request_and_response(azure_settings, caplog):
    """At INFO (where the CLI's log file records) the Azure SDKs wrote each request's and response's headers, about
    1 KB per call: 400 KB for one ingest of 24 files, without a word a person could act on."""
    caplog.set_level(logging.INFO)
    store, blobs, jobs = build_stores(azure_settings)
    try:
        store.list_spaces("acme")
        blobs.probe()
        jobs.list_jobs("acme")
    finally:
        store.close()
    assert [record.name for record in caplog.records if "http_logging_policy" in record.name] == []
