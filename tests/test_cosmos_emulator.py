"""The Cosmos DB emulator answers the unmodified `azure-cosmos` SDK the way Cosmos DB documents it.

Each test names the documented behaviour it checks (learn.microsoft.com/azure/cosmos-db: HTTP status codes, query
language, VectorDistance, transactional batch, vector policies).
"""

from __future__ import annotations

import math
import uuid

import pytest
from azure.core import MatchConditions
from azure.cosmos import CosmosClient, PartitionKey, exceptions
from azure.cosmos.documents import ConnectionPolicy, RetryOptions

DIM = 3


@pytest.fixture(scope="module")
def client(azure_emulators):
    policy = ConnectionPolicy()
    policy.RetryOptions = RetryOptions(max_retry_attempt_count=0)  # see 429s as they come
    return CosmosClient(azure_emulators.cosmos_endpoint, credential=azure_emulators.cosmos_key,
                        connection_policy=policy)


@pytest.fixture
def container(client):
    database = client.create_database_if_not_exists(f"t{uuid.uuid4().hex[:10]}")
    created = database.create_container(
        "items", partition_key=PartitionKey("/tenant"),
        vector_embedding_policy={"vectorEmbeddings": [
            {"path": "/cos", "dataType": "float32", "distanceFunction": "cosine", "dimensions": DIM},
            {"path": "/dot", "dataType": "float32", "distanceFunction": "dotproduct", "dimensions": DIM},
            {"path": "/euc", "dataType": "float32", "distanceFunction": "euclidean", "dimensions": DIM}]},
        indexing_policy={"includedPaths": [{"path": "/*"}], "excludedPaths": [{"path": "/cos/*"}],
                         "vectorIndexes": [{"path": "/cos", "type": "quantizedFlat"}]},
    )
    yield created
    client.delete_database(database.id)


def items(container, query, parameters=(), **options):
    return list(container.query_items(query, parameters=list(parameters), **options))


def test_reading_a_missing_item_is_404_with_substatus_0(container):
    with pytest.raises(exceptions.CosmosResourceNotFoundError) as caught:
        container.read_item("missing", partition_key="a")
    assert (caught.value.status_code, caught.value.sub_status) == (404, 0)


def test_a_missing_container_is_404_with_substatus_1003(client, container):
    ghost = client.get_database_client(container.container_link.split("/")[1]).get_container_client("nope")
    with pytest.raises(exceptions.CosmosResourceNotFoundError) as caught:
        ghost.read_item("x", partition_key="a")
    assert (caught.value.status_code, caught.value.sub_status) == (404, 1003)


def test_creating_an_existing_id_conflicts_and_a_stale_etag_fails_the_precondition(container):
    first = container.create_item({"id": "1", "tenant": "a"})
    with pytest.raises(exceptions.CosmosResourceExistsError):
        container.create_item({"id": "1", "tenant": "a"})
    container.create_item({"id": "1", "tenant": "b"})  # ids are unique per logical partition only
    container.replace_item("1", {"id": "1", "tenant": "a", "v": 2})
    with pytest.raises(exceptions.CosmosAccessConditionFailedError) as caught:
        container.replace_item("1", {"id": "1", "tenant": "a", "v": 3}, etag=first["_etag"],
                               match_condition=MatchConditions.IfNotModified)
    assert caught.value.status_code == 412


def test_a_wrong_key_is_rejected_with_401(azure_emulators):
    with pytest.raises(exceptions.CosmosHttpResponseError) as caught:
        CosmosClient(azure_emulators.cosmos_endpoint, credential="A" * 86 + "==")
    assert caught.value.status_code == 401


def test_queries_stay_in_the_partition_they_name(container):
    for tenant in ("a", "b"):
        for n in range(3):
            container.create_item({"id": f"{tenant}{n}", "tenant": tenant, "n": n})
    assert {i["id"] for i in items(container, "SELECT * FROM c", partition_key="a")} == {"a0", "a1", "a2"}
    everything = items(container, "SELECT VALUE c.id FROM c", enable_cross_partition_query=True)
    assert sorted(everything) == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_top_order_by_offset_limit_and_parameters(container):
    for n in range(6):
        container.create_item({"id": str(n), "tenant": "a", "n": n, "tags": ["even" if n % 2 == 0 else "odd"]})
    top = items(container, "SELECT TOP @k VALUE c.n FROM c ORDER BY c.n DESC", [{"name": "@k", "value": 2}],
                partition_key="a")
    page = items(container, "SELECT VALUE c.n FROM c ORDER BY c.n OFFSET 1 LIMIT 2", partition_key="a")
    tagged = items(container, "SELECT VALUE c.id FROM c WHERE ARRAY_CONTAINS(c.tags, @t) AND c.n IN (0, 1, 2)",
                   [{"name": "@t", "value": "even"}], partition_key="a")
    count = items(container, "SELECT VALUE COUNT(1) FROM c WHERE c.n >= 3", partition_key="a")
    assert (top, page, sorted(tagged), count) == ([5, 4], [1, 2], ["0", "2"], [3])


def test_comparing_different_types_is_undefined_and_filters_the_row_out(container):
    container.create_item({"id": "s", "tenant": "a", "n": "3"})
    container.create_item({"id": "i", "tenant": "a", "n": 3})
    container.create_item({"id": "m", "tenant": "a"})
    assert items(container, "SELECT VALUE c.id FROM c WHERE c.n > 1", partition_key="a") == ["i"]
    assert items(container, "SELECT VALUE c.id FROM c WHERE NOT (c.n > 1)", partition_key="a") == []
    # Mixed types sort by type first: undefined, null, booleans, numbers, strings.
    assert items(container, "SELECT VALUE c.id FROM c ORDER BY c.n", partition_key="a") == ["m", "i", "s"]


def test_results_come_in_pages_with_continuation_tokens(container):
    for n in range(5):
        container.create_item({"id": str(n), "tenant": "a", "n": n})
    pager = container.query_items("SELECT VALUE c.n FROM c ORDER BY c.n", partition_key="a",
                                  max_item_count=2).by_page()
    pages = [list(page) for page in pager]
    assert pages == [[0, 1], [2, 3], [4]]


def test_vector_distance_uses_the_policy_function_and_sorts_most_similar_first(container):
    vectors = {"x": [1.0, 0.0, 0.0], "xy": [1.0, 1.0, 0.0], "far": [-1.0, 0.0, 0.0]}
    for name, vector in vectors.items():
        container.create_item({"id": name, "tenant": "a", "cos": vector, "dot": [2 * v for v in vector],
                               "euc": vector})
    q = [{"name": "@q", "value": [1.0, 0.0, 0.0]}]
    cosine = items(container, "SELECT TOP 3 c.id, VectorDistance(c.cos, @q) AS s FROM c "
                              "ORDER BY VectorDistance(c.cos, @q)", q, partition_key="a")
    dot = items(container, "SELECT TOP 3 c.id, VectorDistance(c.dot, @q) AS s FROM c "
                           "ORDER BY VectorDistance(c.dot, @q)", q, partition_key="a")
    euclidean = items(container, "SELECT TOP 3 c.id, VectorDistance(c.euc, @q) AS s FROM c "
                                 "ORDER BY VectorDistance(c.euc, @q)", q, partition_key="a")
    assert [(r["id"], round(r["s"], 4)) for r in cosine] == [("x", 1.0), ("xy", round(1 / math.sqrt(2), 4)),
                                                             ("far", -1.0)]
    assert {r["id"]: r["s"] for r in dot} == {"x": 2.0, "xy": 2.0, "far": -2.0} and dot[-1]["id"] == "far"
    assert [(r["id"], round(r["s"], 4)) for r in euclidean] == [("x", 0.0), ("xy", 1.0), ("far", 2.0)]
    overridden = items(container, "SELECT VALUE VectorDistance(c.euc, @q, false, {'distanceFunction': 'cosine'}) "
                                  "FROM c WHERE c.id = 'far'", q, partition_key="a")
    assert overridden == [-1.0]


def test_a_transactional_batch_applies_all_or_nothing(container):
    container.execute_item_batch([("create", ({"id": "1", "tenant": "a"},)),
                                  ("upsert", ({"id": "2", "tenant": "a"},))], partition_key="a")
    with pytest.raises(exceptions.CosmosBatchOperationError) as caught:
        container.execute_item_batch([("create", ({"id": "3", "tenant": "a"},)),
                                      ("create", ({"id": "1", "tenant": "a"},))], partition_key="a")
    assert (caught.value.error_index, caught.value.status_code) == (1, 409)
    assert [r["statusCode"] for r in caught.value.operation_responses] == [424, 409]
    assert sorted(items(container, "SELECT VALUE c.id FROM c", partition_key="a")) == ["1", "2"]


def test_a_batch_holds_at_most_100_operations(container):
    operations = [("upsert", ({"id": str(n), "tenant": "a"},)) for n in range(101)]
    with pytest.raises(exceptions.CosmosHttpResponseError) as caught:
        container.execute_item_batch(operations, partition_key="a")
    assert caught.value.status_code == 400


def test_vector_indexes_must_match_the_policy_and_their_dimension_limits(client):
    database = client.create_database_if_not_exists(f"t{uuid.uuid4().hex[:10]}")
    policy = {"vectorEmbeddings": [{"path": "/v", "dataType": "float32", "distanceFunction": "cosine",
                                    "dimensions": 1000}]}
    with pytest.raises(exceptions.CosmosHttpResponseError) as flat:
        database.create_container("flat", partition_key=PartitionKey("/t"), vector_embedding_policy=policy,
                                  indexing_policy={"vectorIndexes": [{"path": "/v", "type": "flat"}]})
    with pytest.raises(exceptions.CosmosHttpResponseError) as elsewhere:
        database.create_container("other", partition_key=PartitionKey("/t"), vector_embedding_policy=policy,
                                  indexing_policy={"vectorIndexes": [{"path": "/w", "type": "diskANN"}]})
    database.create_container("ann", partition_key=PartitionKey("/t"), vector_embedding_policy=policy,
                              indexing_policy={"vectorIndexes": [{"path": "/v", "type": "diskANN"}]})
    assert (flat.value.status_code, elsewhere.value.status_code) == (400, 400)
    client.delete_database(database.id)


def test_injected_throttling_carries_retry_after(azure_emulators, container):
    azure_emulators.inject_cosmos_fault(429, operations=("upsert",), retry_after_ms=15)
    with pytest.raises(exceptions.CosmosHttpResponseError) as caught:
        container.upsert_item({"id": "1", "tenant": "a"})
    assert caught.value.status_code == 429
    assert caught.value.headers["x-ms-retry-after-ms"] == "15"
    container.upsert_item({"id": "1", "tenant": "a"})
