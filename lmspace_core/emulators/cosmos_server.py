"""A Cosmos DB (NoSQL API) REST emulator for tests and local trials: HTTPS on 127.0.0.1, in memory.

The official emulator is a container image that cannot run here, and `@vercel/cosmosdb-server` lacks most of what
LMSpace uses (404s, partition scoping, VectorDistance, batches, keep-alive). This server speaks the REST protocol the
unmodified `azure-cosmos` SDK speaks (it skips certificate checks for 127.0.0.1) and keeps Cosmos' semantics where
LMSpace relies on them:

- master-key signatures are checked (401 on a wrong key); databases, containers and items with `_rid`, `_etag`,
  `_ts`; 404 (sub-status 0 for items, 1003 when the container or database is missing), 409 on create conflicts,
  412 on `If-Match` mismatches, 400 for bad queries and for a partition key header that does not match the body;
- queries run within the partition named by the partition key header, across partitions only when the client
  enables cross-partition queries (else 400, as Cosmos answers), paged with `x-ms-max-item-count` and
  continuation tokens; the SQL subset is in `cosmos_sql`;
- containers validate and keep their vector embedding policy and vector indexes (flat, quantizedFlat, diskANN);
  `VectorDistance` uses the policy's distance function;
- transactional batches: up to 100 operations on one partition, all or nothing (207 with 424 for the others);
- `POST /_emulator/faults` queues failures (e.g. 429 with `x-ms-retry-after-ms`), optionally after applying the
  write, so tests can prove retries never duplicate (`/_emulator/faults/clear` drops them); `GET /_emulator/stats`
  counts requests. The SDK never calls these paths.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import pickle
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from lmspace_core.emulators.cosmos_sql import QueryError, execute, parse

# The key of the official Cosmos DB emulator, published in its documentation.
WELL_KNOWN_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nzwJ+Ws9agLs4YHH0XLlZIr6EbJ8bMFQD3PmAPlFwg=="

_MAX_ITEM_BYTES = 2 * 1024 * 1024
_MAX_BATCH_OPERATIONS = 100
_DISTANCE_FUNCTIONS = {"cosine", "dotproduct", "euclidean"}
_VECTOR_DATA_TYPES = {"float32", "float16", "int8", "uint8"}
_VECTOR_INDEX_TYPES = {"flat": 505, "quantizedFlat": 4096, "diskANN": 4096}  # type -> most dimensions it indexes
_SYSTEM_KEYS = ("_rid", "_self", "_etag", "_ts", "_attachments")


class CosmosFailure(Exception):
    """An error answer: HTTP status, Cosmos sub-status and a message in Cosmos' words."""

    def __init__(self, status: int, message: str, sub_status: int = 0, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.sub_status, self.headers = status, sub_status, dict(headers or {})

    def body(self) -> dict:
        code = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 412: "PreconditionFailed",
                413: "RequestEntityTooLarge", 429: "TooManyRequests"}.get(self.status, "ServiceUnavailable")
        return {"code": code, "message": str(self)}


@dataclass
class Fault:
    """A failure the next matching requests get instead of (or, with `apply`, after) being served."""

    status: int
    count: int
    operations: frozenset[str]  # create, upsert, replace, delete, read, query, batch; empty: any
    retry_after_ms: int = 0
    apply: bool = False

    def matches(self, operation: str) -> bool:
        return self.count > 0 and (not self.operations or operation in self.operations)


@dataclass
class Container:
    properties: dict
    partitions: dict[str, dict[str, dict]] = field(default_factory=dict)  # pk json -> id -> item

    @property
    def partition_paths(self) -> list[list[str]]:
        return [path.strip("/").split("/") for path in self.properties["partitionKey"]["paths"]]

    def partition_of(self, item: dict) -> str:
        values = []
        for path in self.partition_paths:
            value: Any = item
            for step in path:
                value = value.get(step, {}) if isinstance(value, dict) else {}
            values.append(value)
        return json.dumps(values)

    def distance_functions(self) -> dict[str, str]:
        policy = self.properties.get("vectorEmbeddingPolicy") or {}
        return {entry["path"]: entry["distanceFunction"] for entry in policy.get("vectorEmbeddings", [])}


@dataclass
class Database:
    properties: dict
    containers: dict[str, Container] = field(default_factory=dict)


class CosmosState:
    """Every database, container and item, behind one lock (the emulator favours simplicity over concurrency)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.databases: dict[str, Database] = {}
        self.faults: list[Fault] = []
        self.stats: dict[str, int] = {}
        self._next_rid = 1
        self._vector_cache: dict[int, tuple[list, np.ndarray]] = {}

    def rid(self, size: int) -> str:
        self._next_rid += 1
        return base64.b64encode(self._next_rid.to_bytes(size, "little")).decode().replace("/", "-")

    def vectors(self, values: list) -> np.ndarray:
        """Item vectors as float32 arrays, converted once per stored list (queries re-rank the same ones often)."""
        cached = self._vector_cache.get(id(values))
        if cached is not None and cached[0] is values:
            return cached[1]
        array = np.asarray(values, dtype=np.float32)
        if array.ndim != 1:
            raise ValueError("not a vector")
        if len(self._vector_cache) > 200_000:
            self._vector_cache.clear()
        self._vector_cache[id(values)] = (values, array)
        return array

    def save(self, path: Path) -> None:
        """Keep the data across a restart (what a real service does when it comes back after an outage)."""
        with self.lock:
            path.write_bytes(pickle.dumps((self.databases, self._next_rid)))

    def load(self, path: Path) -> None:
        with self.lock:
            self.databases, self._next_rid = pickle.loads(path.read_bytes())

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(operation):
                    fault.count -= 1
                    self.stats[f"fault_{fault.status}"] = self.stats.get(f"fault_{fault.status}", 0) + 1
                    return fault
        return None


def _stamp(state: CosmosState, body: dict, self_link: str, rid: str | None = None) -> dict:
    rid = rid or state.rid(8)
    body.update({"_rid": rid, "_self": self_link, "_etag": f'"{uuid.uuid4()}"', "_ts": int(time.time())})
    return body


def _validate_vector_policy(properties: dict) -> None:
    """Reject what Cosmos rejects when a container is created with a vector policy and vector indexes."""
    policy = properties.get("vectorEmbeddingPolicy")
    embeddings = {}
    for entry in (policy or {}).get("vectorEmbeddings", []):
        path, dimensions = entry.get("path"), entry.get("dimensions")
        if not isinstance(path, str) or not path.startswith("/"):
            raise CosmosFailure(400, f"The Vector Embedding Policy path '{path}' is invalid.")
        if entry.get("distanceFunction") not in _DISTANCE_FUNCTIONS:
            raise CosmosFailure(400, f"The Vector Embedding Policy has an invalid distanceFunction for '{path}'; "
                                     "use cosine, dotproduct or euclidean.")
        if entry.get("dataType", "float32") not in _VECTOR_DATA_TYPES:
            raise CosmosFailure(400, f"The Vector Embedding Policy has an invalid dataType for '{path}'.")
        if not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
            raise CosmosFailure(400, f"The Vector Embedding Policy dimensions for '{path}' must be 1 to 4096.")
        embeddings[path] = dimensions
    for index in (properties.get("indexingPolicy") or {}).get("vectorIndexes", []):
        kind, path = index.get("type"), index.get("path")
        if path not in embeddings:
            raise CosmosFailure(400, f"The vector index path '{path}' is not in the Vector Embedding Policy.")
        if kind not in _VECTOR_INDEX_TYPES:
            raise CosmosFailure(400, f"The vector index type '{kind}' is invalid; use flat, quantizedFlat or diskANN.")
        if embeddings[path] > _VECTOR_INDEX_TYPES[kind]:
            raise CosmosFailure(400, f"The {kind} vector index supports at most {_VECTOR_INDEX_TYPES[kind]} "
                                     f"dimensions; '{path}' has {embeddings[path]}.")


class CosmosService:
    """The REST operations, independent of HTTP plumbing: each takes the parsed request and returns (status, body)."""

    def __init__(self, state: CosmosState, key: str = WELL_KNOWN_KEY) -> None:
        self.state = state
        self._key = base64.b64decode(key)

    # -- auth -----------------------------------------------------------------------------------------------

    def check_signature(self, verb: str, segments: list[str], headers: Mapping[str, str]) -> None:
        token = unquote(headers.get("authorization", ""))
        fields = dict(part.split("=", 1) for part in token.split("&") if "=" in part)
        if fields.get("type") == "aad":
            return  # Entra ID tokens cannot be verified offline; the emulator accepts them.
        if fields.get("type") != "master" or "sig" not in fields:
            raise CosmosFailure(401, "Required Header authorization is missing or malformed.")
        if len(segments) % 2:  # a feed (.../docs): the link is the parent, the type the last segment
            resource_type, link = segments[-1], "/".join(segments[:-1])
        else:
            resource_type, link = (segments[-2] if segments else ""), "/".join(segments)
        text = (f"{verb.lower()}\n{resource_type.lower()}\n{link}\n{headers.get('x-ms-date', '').lower()}\n"
                f"{headers.get('date', '').lower()}\n")
        expected = base64.b64encode(hmac.new(self._key, text.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, fields["sig"]):
            raise CosmosFailure(
                401, "The input authorization token can't serve the request. The wrong key is being used or the "
                     "expected payload is not built as per the protocol.")

    # -- account, databases, containers ---------------------------------------------------------------------

    def account(self, host: str) -> dict:
        endpoint = f"https://{host}/"
        location = [{"name": "Emulator", "databaseAccountEndpoint": endpoint}]
        return {
            "id": "lmspace-emulator", "_rid": host, "_self": "", "_dbs": "//dbs/", "media": "//media/",
            "writableLocations": location, "readableLocations": location, "enableMultipleWriteLocations": False,
            "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
            "userReplicationPolicy": {"asyncReplication": False, "minReplicaSetSize": 1, "maxReplicasetSize": 4},
            "systemReplicationPolicy": {"minReplicaSetSize": 1, "maxReplicasetSize": 4},
            "readPolicy": {"primaryReadCoefficient": 1, "secondaryReadCoefficient": 1},
            "queryEngineConfiguration": json.dumps({"maxSqlQueryInputLength": 262144, "sqlAllowTop": True}),
        }

    def database(self, name: str) -> Database:
        database = self.state.databases.get(name)
        if database is None:
            raise CosmosFailure(404, f"Owner resource does not exist: database '{name}'.", 1003)
        return database

    def container(self, database: str, name: str) -> Container:
        container = self.database(database).containers.get(name)
        if container is None:
            raise CosmosFailure(404, f"Owner resource does not exist: container '{name}'.", 1003)
        return container

    def create_database(self, body: dict) -> dict:
        name = body.get("id")
        if not name:
            raise CosmosFailure(400, "The input content is invalid because the required property, id, is missing.")
        if name in self.state.databases:
            raise CosmosFailure(409, "Resource with specified id or name already exists.")
        properties = _stamp(self.state, {"id": name, "_colls": "colls/", "_users": "users/"}, f"dbs/{name}/",
                            self.state.rid(4))
        self.state.databases[name] = Database(properties)
        return properties

    def create_container(self, database: str, body: dict) -> dict:
        parent = self.database(database)
        name = body.get("id")
        if not name:
            raise CosmosFailure(400, "The input content is invalid because the required property, id, is missing.")
        if name in parent.containers:
            raise CosmosFailure(409, "Resource with specified id or name already exists.")
        _validate_vector_policy(body)
        properties = copy.deepcopy(body)
        properties.setdefault("partitionKey", {"paths": ["/id"], "kind": "Hash", "version": 2})
        properties.setdefault("indexingPolicy", {"indexingMode": "consistent", "automatic": True,
                                                 "includedPaths": [{"path": "/*"}], "excludedPaths": []})
        properties.update({"_docs": "docs/", "_sprocs": "sprocs/", "_triggers": "triggers/", "_udfs": "udfs/",
                           "_conflicts": "conflicts/"})
        _stamp(self.state, properties, f"dbs/{database}/colls/{name}/")
        parent.containers[name] = Container(properties)
        return properties

    # -- items ----------------------------------------------------------------------------------------------

    @staticmethod
    def _partition(container: Container, headers: Mapping[str, str], body: dict | None = None) -> str:
        header = headers.get("x-ms-documentdb-partitionkey")
        if body is not None:
            extracted = container.partition_of(body)
            if header is not None and json.dumps(json.loads(header)) != extracted:
                raise CosmosFailure(400, "PartitionKey extracted from document doesn't match the one specified in "
                                         "the header.", 1001)
            return extracted
        if header is None:
            raise CosmosFailure(400, "PartitionKey value must be supplied for this operation.")
        return json.dumps(json.loads(header))

    @staticmethod
    def _check_match(item: dict | None, headers: Mapping[str, str]) -> None:
        expected = headers.get("if-match")
        if expected is not None and (item is None or item["_etag"] != expected):
            raise CosmosFailure(412, "Operation cannot be performed because one of the specified precondition is "
                                     "not met.")

    def write_item(self, container: Container, body: dict, partition: str, mode: str, headers: Mapping) -> dict:
        """create / upsert / replace one item into its partition; returns the stored item."""
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise CosmosFailure(400, "The input content is invalid because the required property, id, is missing.")
        if len(json.dumps(body)) > _MAX_ITEM_BYTES:
            raise CosmosFailure(413, "Request size is too large.")
        items = container.partitions.setdefault(partition, {})
        existing = items.get(body["id"])
        if mode == "create" and existing is not None:
            raise CosmosFailure(409, "Entity with the specified id already exists in the system.")
        if mode == "replace" and existing is None:
            raise CosmosFailure(404, "Entity with the specified id does not exist in the system.")
        if existing is not None:
            self._check_match(existing, headers)
        stored = {key: value for key, value in body.items() if key not in _SYSTEM_KEYS}
        rid = existing["_rid"] if existing else self.state.rid(16)
        _stamp(self.state, stored, f"{container.properties['_self']}docs/{rid}/", rid)
        stored["_attachments"] = "attachments/"
        items[body["id"]] = stored
        return stored

    def read_item(self, container: Container, item_id: str, partition: str) -> dict:
        item = container.partitions.get(partition, {}).get(item_id)
        if item is None:
            raise CosmosFailure(404, "Entity with the specified id does not exist in the system.")
        return item

    def delete_item(self, container: Container, item_id: str, partition: str, headers: Mapping) -> None:
        item = self.read_item(container, item_id, partition)
        self._check_match(item, headers)
        del container.partitions[partition][item_id]

    def query(self, container: Container, body: dict, headers: Mapping[str, str]) -> list[Any]:
        if "x-ms-documentdb-partitionkey" in headers:
            rows = list(container.partitions.get(self._partition(container, headers), {}).values())
        elif headers.get("x-ms-documentdb-query-enablecrosspartition", "").lower() == "true":
            self.state.stats["query_cross_partition"] = self.state.stats.get("query_cross_partition", 0) + 1
            rows = [item for items in container.partitions.values() for item in items.values()]
        else:
            raise CosmosFailure(400, "Cross partition query is required but disabled. Please set "
                                     "x-ms-documentdb-query-enablecrosspartition to true, specify "
                                     "x-ms-documentdb-partitionkey, or revise your query to avoid this exception.")
        params = {entry["name"]: entry.get("value") for entry in body.get("parameters") or []}
        try:
            query = parse(body.get("query", ""))
            return execute(query, rows, params, container.distance_functions(), self.state.vectors)
        except QueryError as exc:
            raise CosmosFailure(400, f"Syntax error or unsupported query: {exc}") from None

    def batch(self, container: Container, operations: list, headers: Mapping[str, str]) -> tuple[int, list]:
        """A transactional batch: all operations on one partition, applied together or not at all."""
        if not isinstance(operations, list) or not operations:
            raise CosmosFailure(400, "The batch request did not have any operations to be executed.")
        if len(operations) > _MAX_BATCH_OPERATIONS:
            raise CosmosFailure(400, f"Batch request has more operations than what is supported "
                                     f"({_MAX_BATCH_OPERATIONS}).")
        partition = self._partition(container, headers)
        saved = dict(container.partitions.get(partition, {}))  # items are replaced, never changed in place
        results: list[dict] = []
        for index, operation in enumerate(operations):
            try:
                results.append(self._batch_operation(container, operation, partition))
            except CosmosFailure as failure:
                container.partitions[partition] = saved
                outcome = [{"statusCode": 424, "requestCharge": 0} for _ in operations]
                outcome[index] = {"statusCode": failure.status, "subStatusCode": failure.sub_status,
                                  "requestCharge": 0}
                return 207, outcome
        return 200, results

    def _batch_operation(self, container: Container, operation: dict, partition: str) -> dict:
        kind = str(operation.get("operationType", "")).lower()
        conditions = {"if-match": operation["ifMatch"]} if "ifMatch" in operation else {}
        if kind in ("create", "upsert", "replace"):
            body = operation.get("resourceBody") or {}
            if container.partition_of(body) != partition:
                raise CosmosFailure(400, "PartitionKey extracted from document doesn't match the batch's.", 1001)
            existed = body.get("id") in container.partitions.get(partition, {})
            stored = self.write_item(container, body, partition, kind, conditions)
            status = 200 if kind == "replace" or (kind == "upsert" and existed) else 201
            return {"statusCode": status, "requestCharge": 1, "eTag": stored["_etag"], "resourceBody": stored}
        if kind == "read":
            item = self.read_item(container, operation.get("id", ""), partition)
            return {"statusCode": 200, "requestCharge": 1, "eTag": item["_etag"], "resourceBody": item}
        if kind == "delete":
            self.delete_item(container, operation.get("id", ""), partition, conditions)
            return {"statusCode": 204, "requestCharge": 1}
        raise CosmosFailure(400, f"Operation type '{operation.get('operationType')}' is not supported in Batch.")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses its connections
    # Headers and body leave in one write with Nagle off; else delayed ACKs add ~40 ms to every request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    service: CosmosService

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and `lmspace dev emulators` should not be drowned in access logs."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        path = urlsplit(self.path).path
        extra: dict[str, str] = {}
        try:
            if path.startswith("/_emulator/"):
                status, body = self._control(verb, path, raw)
            else:
                segments = [unquote(part) for part in path.strip("/").split("/") if part]
                self.service.check_signature(verb, segments, headers)
                status, body, extra = self._route(verb, segments, headers, json.loads(raw) if raw else None)
        except CosmosFailure as failure:
            status, body = failure.status, failure.body()
            extra = {"x-ms-substatus": str(failure.sub_status), **failure.headers}
        except json.JSONDecodeError:
            status, body = 400, {"code": "BadRequest", "message": "The request body is not valid JSON."}
        self._respond(status, body, extra)

    def _respond(self, status: int, body: Any, extra: Mapping[str, str]) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-ms-activity-id", str(uuid.uuid4()))
        self.send_header("x-ms-request-charge", "1")
        if isinstance(body, dict) and "_etag" in body:
            self.send_header("etag", body["_etag"])
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _control(self, verb: str, path: str, raw: bytes) -> tuple[int, Any]:
        state = self.service.state
        if verb == "POST" and path == "/_emulator/faults":
            spec = json.loads(raw)
            state.add_fault(Fault(int(spec["status"]), int(spec.get("count", 1)), frozenset(spec.get("operations", ())),
                                  int(spec.get("retry_after_ms", 0)), bool(spec.get("apply", False))))
            return 204, None
        if verb == "POST" and path == "/_emulator/faults/clear":
            with state.lock:
                state.faults.clear()
            return 204, None
        if verb == "GET" and path == "/_emulator/stats":
            with state.lock:
                return 200, dict(state.stats)
        if verb == "POST" and path == "/_emulator/reset":
            with state.lock:
                state.databases.clear()
                state.faults.clear()
                state.stats.clear()
            return 204, None
        raise CosmosFailure(404, f"No emulator control endpoint {verb} {path}.")

    def _route(self, verb: str, segments: list[str], headers: Mapping[str, str], body: Any) -> tuple[int, Any, dict]:
        state = self.service.state
        operation = self._operation(verb, segments, headers)
        with state.lock:
            state.stats[operation] = state.stats.get(operation, 0) + 1
        fault = state.take_fault(operation)
        if fault is not None and not fault.apply:
            raise self._fault_failure(fault)
        with state.lock:
            status, result, extra = self._dispatch(verb, segments, headers, body, operation)
        if fault is not None:
            raise self._fault_failure(fault)
        return status, result, extra

    @staticmethod
    def _fault_failure(fault: Fault) -> CosmosFailure:
        extra = {"x-ms-retry-after-ms": str(fault.retry_after_ms)} if fault.retry_after_ms else {}
        sub_status = 3200 if fault.status == 429 else 0
        return CosmosFailure(fault.status, "Request rate is large (injected by the emulator)." if fault.status == 429
                             else "Service is unavailable (injected by the emulator).", sub_status, extra)

    @staticmethod
    def _operation(verb: str, segments: list[str], headers: Mapping[str, str]) -> str:
        if len(segments) == 6 and segments[4] == "docs":
            return {"GET": "read", "PUT": "replace", "DELETE": "delete"}.get(verb, "other")
        if len(segments) == 5 and segments[4] == "docs" and verb == "POST":
            if headers.get("x-ms-cosmos-is-batch-request", "").lower() == "true":
                return "batch"
            if headers.get("x-ms-documentdb-isquery", "").lower() == "true":
                return "query"
            return "upsert" if headers.get("x-ms-documentdb-is-upsert", "").lower() == "true" else "create"
        if verb == "POST" and len(segments) in (1, 3):  # what an identity with data-plane roles only may not do
            return "create_database" if len(segments) == 1 else "create_container"
        return "metadata"

    def _dispatch(self, verb: str, segments: list[str], headers: Mapping, body: Any, operation: str) -> tuple:
        service = self.service
        depth = len(segments)
        if depth == 0 and verb == "GET":
            return 200, service.account(self.headers.get("host", "127.0.0.1")), {}
        if segments[0] != "dbs":
            raise CosmosFailure(400, "Unknown resource path.")
        if depth == 1:
            if verb == "POST":
                return 201, service.create_database(body or {}), {}
            databases = [db.properties for db in service.state.databases.values()]
            return 200, {"_rid": "", "Databases": databases, "_count": len(databases)}, {}
        if depth == 2:
            database = service.database(segments[1])
            if verb == "DELETE":
                del service.state.databases[segments[1]]
                return 204, None, {}
            return 200, database.properties, {}
        if depth == 3:
            if verb == "POST":
                return 201, service.create_container(segments[1], body or {}), {}
            containers = [c.properties for c in service.database(segments[1]).containers.values()]
            return 200, {"_rid": "", "DocumentCollections": containers, "_count": len(containers)}, {}
        container = service.container(segments[1], segments[3])
        if depth == 4:
            if verb == "DELETE":
                del service.database(segments[1]).containers[segments[3]]
                return 204, None, {}
            return 200, container.properties, {}
        if segments[4] == "pkranges":
            return self._partition_key_ranges(container, headers)
        if segments[4] != "docs":
            raise CosmosFailure(400, f"Resource type '{segments[4]}' is not supported by this emulator.")
        if depth == 5:
            return self._docs_feed(container, headers, body, operation)
        item_id = segments[5]
        partition = service._partition(container, headers)
        if operation == "read":
            return 200, service.read_item(container, item_id, partition), {}
        if operation == "delete":
            service.delete_item(container, item_id, partition, headers)
            return 204, None, {}
        if operation == "replace":
            if not isinstance(body, dict) or body.get("id") != item_id:
                raise CosmosFailure(400, "The id in the body does not match the id in the path.")
            partition = service._partition(container, headers, body)
            return 200, service.write_item(container, body, partition, "replace", headers), {}
        raise CosmosFailure(405, f"{verb} is not supported on an item by this emulator.")

    def _docs_feed(self, container: Container, headers: Mapping, body: Any, operation: str) -> tuple:
        service = self.service
        if operation == "batch":
            status, results = service.batch(container, body, headers)
            return status, results, {}
        if operation == "query":
            return self._page(container, service.query(container, body or {}, headers), headers)
        if operation in ("create", "upsert"):
            if not isinstance(body, dict):
                raise CosmosFailure(400, "The input content is invalid: an item must be a JSON object.")
            partition = service._partition(container, headers, body)
            existed = body.get("id") in container.partitions.get(partition, {})
            stored = service.write_item(container, body, partition, operation, headers)
            return (200 if existed else 201), stored, {}
        rows = [item for items in container.partitions.values() for item in items.values()]
        return self._page(container, rows, headers)

    @staticmethod
    def _page(container: Container, results: list, headers: Mapping[str, str]) -> tuple:
        """One page of results; the continuation token is the offset of the next page (queries are re-run)."""
        start = int(json.loads(headers["x-ms-continuation"])["offset"]) if headers.get("x-ms-continuation") else 0
        size = int(headers.get("x-ms-max-item-count") or -1)
        end = len(results) if size <= 0 else start + size
        page = results[start:end]
        extra = {"x-ms-item-count": str(len(page))}
        if end < len(results):
            extra["x-ms-continuation"] = json.dumps({"offset": end})
        return 200, {"_rid": container.properties["_rid"], "Documents": page, "_count": len(page)}, extra

    def _partition_key_ranges(self, container: Container, headers: Mapping[str, str]) -> tuple:
        if headers.get("a-im") and headers.get("if-none-match"):
            return 304, None, {"etag": '"1"'}
        ranges = [{"id": "0", "_rid": container.properties["_rid"], "minInclusive": "", "maxExclusive": "FF",
                   "ridPrefix": 0, "throughputFraction": 1, "status": "online", "parents": []}]
        return 200, {"_rid": container.properties["_rid"], "PartitionKeyRanges": ranges, "_count": 1}, {
            "etag": '"1"', "x-ms-item-count": "1"}


class CosmosEmulator:
    """The emulator on a loopback port, serving on a background thread until `stop()`."""

    def __init__(self, certificate: tuple[str, str], port: int = 0, key: str = WELL_KNOWN_KEY) -> None:
        self.state = CosmosState()
        handler = type("Handler", (_Handler,), {"service": CosmosService(self.state, key)})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="cosmos-emulator", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def start(self) -> CosmosEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    """`python -m lmspace_core.emulators.cosmos_server --port N --cert C --key K`: serve until terminated.

    A process of its own, so that the emulator and the client under test do not share one interpreter lock.
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Cosmos DB emulator for LMSpace tests (in memory, loopback only).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--state", type=Path, help="Load the data from this file, and save it there on exit.")
    args = parser.parse_args(argv)
    emulator = CosmosEmulator((args.cert, args.key), args.port)
    if args.state is not None and args.state.exists():
        emulator.state.load(args.state)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emulator.start()
    print(f"ready {emulator.port}", flush=True)
    stop.wait()
    emulator.stop()
    if args.state is not None:
        emulator.state.save(args.state)


if __name__ == "__main__":
    main()
