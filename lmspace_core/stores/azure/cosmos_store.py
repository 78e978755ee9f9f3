"""The knowledge store on Cosmos DB (NoSQL API), partitioned by enterprise, searched with its vector index.

Layout (every container is partitioned by `/enterprise_id`, so every tenant read and write names one partition):
- `spaces`: one item per space, plus a `name:<space name in lower case>` claim item that makes names unique per
  enterprise ignoring case (the claim's id is the key Cosmos refuses twice, so two creates cannot both win);
- `content_<dimension>`: documents, chunks (with `embedding`), the change log and one sequence counter per space.
  A vector embedding policy is fixed per container, so spaces of the same embedding dimension share one; the
  vector index is `quantizedFlat` unless `store.azure.vector_index` says `diskANN` (or `flat`).

Writing a document is one transactional batch (its chunks, the document item, its change-log entry and the bumped
counter, guarded by the counter's etag) when it fits in Cosmos' 100 operations; larger documents upsert their
chunks first in batches and commit with that same final batch. Ids are fixed (`<document>:<version>:<ordinal>`),
so a retried request overwrites rather than duplicates, and search only returns chunks whose document is at the
chunk's version: a write interrupted half-way is invisible until it is retried.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from azure.cosmos import PartitionKey, exceptions

from lmspace_core.domain import (
    ChangeKind,
    Chunk,
    Document,
    DocumentChange,
    Hit,
    Location,
    Outcome,
    Scope,
    SearchFilter,
    Space,
    SpaceStats,
    document_id,
)
from lmspace_core.errors import BackendError, LMSpaceError, NotFoundError
from lmspace_core.names import name_taken_error
from lmspace_core.stores.azure.boundary import azure_call
from lmspace_core.stores.azure.examples import EXAMPLE, PLAN_EXAMPLE, CosmosExampleStore
from lmspace_core.stores.azure.read_cache import SpaceSnapshot
from lmspace_core.stores.azure.retry import call_with_retries
from lmspace_core.stores.base import BlobPlacement, DocumentDraft, SpaceEdit, StoredDocument

BATCH_LIMIT = 100  # operations per Cosmos transactional batch
_COMMIT_OPERATIONS = 3  # document, change-log entry, counter
_MAX_COMMIT_ATTEMPTS = 20
_SPACES = "spaces"
_LOCATION_KEYS = ("page", "heading", "start_line", "end_line")
_cosmos = azure_call("Cosmos DB")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def chunk_id(doc_id: str, version: int, ordinal: int) -> str:
    """Fixed per (document, version, ordinal): a retried write overwrites its own chunks."""
    return f"{doc_id}:{version}:{ordinal}"


def _space(item: dict) -> Space:
    return Space(
        id=item["id"], enterprise_id=item["enterprise_id"], name=item["name"], description=item["description"],
        instructions=item["instructions"], embedder_id=item["embedder_id"],
        created_at=datetime.fromisoformat(item["created_at"]), updated_at=datetime.fromisoformat(item["updated_at"]),
    )


def _name_claim(name: str, enterprise_id: str, space_id: str) -> dict:
    """The item whose id reserves `name` in the enterprise, in any case (space names are ASCII)."""
    return {"id": f"name:{name.lower()}", "enterprise_id": enterprise_id, "type": "space_name", "space_id": space_id}


def _held_claim(item: dict) -> str:
    """The id of the claim a space item holds (a space created before claims were lower case: its name as written)."""
    return item.get("name_claim") or f"name:{item['name']}"


def _document(item: dict) -> Document:
    return Document(
        id=item["id"], enterprise_id=item["enterprise_id"], space_id=item["space_id"], source=item["source"],
        title=item["title"], doc_type=item["doc_type"], tags=tuple(item["tags"]), content_hash=item["content_hash"],
        size_bytes=item["size_bytes"], version=item["version"], chunk_count=item["chunk_count"],
        codebase=item.get("codebase"), created_at=datetime.fromisoformat(item["created_at"]),
        updated_at=datetime.fromisoformat(item["updated_at"]), metadata=item.get("metadata") or {},
        raw_year=item.get("raw_year"),
    )


def _raw_year(draft: DocumentDraft, existing: dict | None, now: str) -> int:
    """The year in the document's raw-file name: the one the writer used (it may have named the blob before
    knowing this document existed), else the one recorded (a replaced file keeps its name), else this year."""
    if draft.raw_year is not None:
        return draft.raw_year
    if existing is not None:
        return BlobPlacement.of(_document(existing)).uploaded_year
    return datetime.fromisoformat(now).year


def _chunk(item: dict) -> Chunk:
    location = item.get("location") or {}
    return Chunk(
        id=item["id"], enterprise_id=item["enterprise_id"], space_id=item["space_id"],
        document_id=item["document_id"], ordinal=item["ordinal"], text=item["content"],
        location=Location(**{key: location.get(key) for key in _LOCATION_KEYS}),
    )


def _filter_sql(search_filter: SearchFilter, params: list[dict]) -> str:
    """Query conditions on items `c` carrying `doc_type`, `tags` and `metadata`: any of the types, all of the tags,
    every metadata value (the key is a bound parameter, so no key can change the query's shape)."""
    clauses = []
    if search_filter.doc_types:
        names = [f"@type{i}" for i in range(len(search_filter.doc_types))]
        params.extend({"name": name, "value": value} for name, value in zip(names, search_filter.doc_types,
                                                                              strict=True))
        clauses.append(f"c.doc_type IN ({', '.join(names)})")
    for i, tag in enumerate(search_filter.tags):
        params.append({"name": f"@tag{i}", "value": tag})
        clauses.append(f"ARRAY_CONTAINS(c.tags, @tag{i})")
    for i, (key, value) in enumerate(search_filter.metadata):
        params.extend([{"name": f"@mkey{i}", "value": key}, {"name": f"@mvalue{i}", "value": value}])
        clauses.append(f"c.metadata[@mkey{i}] = @mvalue{i}")
    return "".join(f" AND {clause}" for clause in clauses)


def _ids_condition(field: str, ids: Sequence[str] | None) -> str:
    return "" if ids is None else f" AND ARRAY_CONTAINS(@ids, {field})"


def _ids_params(ids: Sequence[str] | None) -> list[dict]:
    return [] if ids is None else [{"name": "@ids", "value": list(ids)}]


def _advance(counter: dict, next_sequence: int) -> tuple:
    """The batch operation that moves a space's change counter to `next_sequence`, unless another writer moved it
    since `counter` was read (then the batch fails with 412)."""
    moved = {key: value for key, value in counter.items() if not key.startswith("_")}
    return "replace", (counter["id"], {**moved, "next_sequence": next_sequence}), {"if_match_etag": counter["_etag"]}


def _batches(operations: Sequence[Any], size: int = BATCH_LIMIT) -> Iterator[Sequence[Any]]:
    for start in range(0, len(operations), size):
        yield operations[start : start + size]


class CosmosKnowledgeStore:
    """`KnowledgeStore` over one Cosmos DB database; containers are created (or verified) on first use."""

    def __init__(self, connect: Callable[[], Any], database: str, vector_index: str = "quantizedFlat") -> None:
        """`connect()` returns the `CosmosClient`; it is called on first use, so opening a workspace is offline."""
        self._connect = connect
        self._database_name = database
        self._vector_index = vector_index
        self._database: Any = None
        self._containers: dict[str, Any] = {}
        self._dimensions: dict[Scope, int] = {}
        self._lock = threading.Lock()
        # azure-cosmos 4.17.1 shares response-header state between concurrent queries on one client (seen: "OrderedDict
        # mutated during iteration" from 4 threads); queries on one store take turns, point reads and batches do not.
        self._query_lock = threading.Lock()

    def close(self) -> None:
        """Nothing to release: the SDK client's connections close with the process."""

    # -- containers -------------------------------------------------------------------------------------------

    def _container(self, name: str, dimension: int | None = None) -> Any:
        with self._lock:
            container = self._containers.get(name)
            if container is None:
                container = self._create_container(name, dimension)
                self._containers[name] = container
            return container

    def _create_container(self, name: str, dimension: int | None) -> Any:
        """Create the container if missing; with Entra ID data-plane roles only, it must exist already."""
        try:
            if self._database is None:
                client = self._connect()
                self._database = call_with_retries(lambda: client.create_database_if_not_exists(self._database_name))
            options: dict[str, Any] = {}
            if dimension is not None:
                options["vector_embedding_policy"] = {"vectorEmbeddings": [{
                    "path": "/embedding", "dataType": "float32", "distanceFunction": "cosine",
                    "dimensions": dimension}]}
                options["indexing_policy"] = {
                    "indexingMode": "consistent", "automatic": True, "includedPaths": [{"path": "/*"}],
                    "excludedPaths": [{"path": "/embedding/*"}, {"path": '/"_etag"/?'}],
                    "vectorIndexes": [{"path": "/embedding", "type": self._vector_index}]}
            return call_with_retries(lambda: self._database.create_container_if_not_exists(
                name, partition_key=PartitionKey("/enterprise_id"), **options))
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code == 403:
                raise BackendError(
                    f"Cosmos DB refused to create database '{self._database_name}' or container '{name}' (403). "
                    "Creating them needs the control-plane permission Microsoft.DocumentDB/databaseAccounts/"
                    "sqlDatabases/containers/write (e.g. the DocumentDB Account Contributor role), which the "
                    "data-plane role Cosmos DB Built-in Data Contributor (what LMSpace needs to use them) does not "
                    "give: create them as docs/azure.md shows (az or Bicep), with partition key /enterprise_id and, "
                    "for content containers, the vector policy; or grant the identity that permission."
                ) from None
            if error.status_code == 400 and dimension is not None:
                raise BackendError(
                    f"Cosmos DB rejected the vector policy of container '{name}': enable the account capability "
                    f"EnableNoSQLVectorSearch (docs/azure.md). ({error.message.splitlines()[0][:200]})"
                ) from None
            raise

    def _spaces(self) -> Any:
        return self._container(_SPACES)

    def _content(self, dimension: int) -> Any:
        return self._container(f"content_{dimension}", dimension)

    # -- small helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def _read(container: Any, item_id: str, partition: str) -> dict | None:
        try:
            return call_with_retries(lambda: container.read_item(item_id, partition_key=partition))
        except exceptions.CosmosResourceNotFoundError:
            return None

    def _query(self, container: Any, partition: str, query: str, params: list[dict] | None = None) -> list[Any]:
        def run() -> list[Any]:
            with self._query_lock:
                return list(container.query_items(query, parameters=params or [], partition_key=partition))

        return call_with_retries(run)

    @staticmethod
    def _batch(container: Any, operations: Sequence[Any], partition: str) -> None:
        if operations:
            call_with_retries(lambda: container.execute_item_batch(list(operations), partition_key=partition))

    def _space_item(self, scope: Scope) -> dict:
        item = self._read(self._spaces(), scope.space_id, scope.enterprise_id)
        if item is None or item.get("type") != "space":
            raise NotFoundError(f"No space {scope.space_id} in enterprise '{scope.enterprise_id}'.")
        self._dimensions[scope] = item["dimension"]
        return item

    def _space_content(self, scope: Scope) -> Any:
        """The content container of a space (its dimension is cached: it changes only through `replace_vectors`)."""
        dimension = self._dimensions.get(scope)
        if dimension is None:
            dimension = self._space_item(scope)["dimension"]
        return self._content(dimension)

    # -- spaces -----------------------------------------------------------------------------------------------

    @_cosmos
    def create_space(
        self, enterprise_id: str, name: str, description: str, instructions: str, embedder_id: str, dimension: int,
        space_id: str | None = None,
    ) -> Space:
        """Create a space; with a `space_id` chosen by the caller (the outbox's), creating it again is a no-op."""
        now = _now()
        space_id = space_id or uuid.uuid4().hex[:16]
        claim = _name_claim(name, enterprise_id, space_id)
        item = {"id": space_id, "enterprise_id": enterprise_id, "type": "space", "name": name,
                "description": description, "instructions": instructions, "embedder_id": embedder_id,
                "dimension": dimension, "created_at": now, "updated_at": now, "name_claim": claim["id"]}
        self._content(dimension)
        if holder := self._name_holder(enterprise_id, name, space_id):  # a replay finds its own space
            raise name_taken_error(holder, enterprise_id)
        try:
            self._batch(self._spaces(), [("create", (claim,)), ("create", (item,))], enterprise_id)
        except exceptions.CosmosBatchOperationError as error:
            if error.status_code == 409:
                existing = self._read(self._spaces(), claim["id"], enterprise_id)
                if existing is not None and existing["space_id"] == space_id:  # a replayed creation
                    return self.get_space(Scope(enterprise_id, space_id))
                raise name_taken_error(self._name_holder(enterprise_id, name) or name, enterprise_id) from None
            raise
        self._dimensions[Scope(enterprise_id, space_id)] = dimension
        return _space(item)

    @_cosmos
    def examples(self) -> CosmosExampleStore:
        """The spaces' examples, kept as items beside the spaces (see `stores/azure/examples.py`)."""
        return CosmosExampleStore(self._spaces())

    @_cosmos
    def get_space(self, scope: Scope) -> Space:
        return _space(self._space_item(scope))

    def _name_holder(self, enterprise_id: str, name: str, space_id: str = "") -> str | None:
        """The name, as written, of a space other than `space_id` whose name equals `name` ignoring case.

        Read before a create or rename for spaces created before claims were lower case: their claim holds the name
        as written, which a lower-case claim cannot collide with. Such claims are never written any more, so no
        create can race this read; between names claimed since, the claim alone decides, atomically.
        """
        items = self._query(self._spaces(), enterprise_id, "SELECT c.id, c.name FROM c WHERE c.type = 'space'")
        return next((i["name"] for i in items if i["name"].lower() == name.lower() and i["id"] != space_id), None)

    def _claimed_spaces(self, enterprise_id: str, name: str) -> list[dict]:
        """The space items whose claims hold `name`: the one of its lower-case claim, then the one of a claim with
        the name as written (spaces created before claims were lower case hold such a claim)."""
        items = []
        for claim_id in dict.fromkeys((_name_claim(name, enterprise_id, "")["id"], f"name:{name}")):
            claim = self._read(self._spaces(), claim_id, enterprise_id)
            item = self._read(self._spaces(), claim["space_id"], enterprise_id) if claim else None
            items += [item] if item is not None else []
        return items

    @_cosmos
    def find_space(self, enterprise_id: str, name: str) -> Space | None:
        """The space named exactly `name`."""
        return next((_space(item) for item in self._claimed_spaces(enterprise_id, name) if item["name"] == name), None)

    @_cosmos
    def list_spaces(self, enterprise_id: str) -> list[Space]:
        items = self._query(self._spaces(), enterprise_id, "SELECT * FROM c WHERE c.type = 'space' ORDER BY c.name")
        return [_space(item) for item in items]

    @_cosmos
    def list_enterprises(self) -> list[str]:
        """The one cross-partition query: administration across tenants, never tenant data."""
        spaces = self._spaces()

        def run() -> list[str]:
            with self._query_lock:
                return list(spaces.query_items("SELECT DISTINCT VALUE c.enterprise_id FROM c WHERE c.type = 'space'",
                                               enable_cross_partition_query=True))

        return sorted(call_with_retries(run))

    @_cosmos
    def update_space(self, scope: Scope, edit: SpaceEdit) -> Space:
        item = self._space_item(scope)
        changes = {key: value for key, value in vars(edit).items() if value is not None}
        if not changes:
            return _space(item)
        updated = {**item, **changes, "updated_at": _now()}
        claim = _name_claim(edit.name, scope.enterprise_id, scope.space_id) if edit.name is not None else None
        claims: list[Any] = []
        if claim is not None and claim["id"] != _held_claim(item):  # a new name, not the same one in another case
            if holder := self._name_holder(scope.enterprise_id, edit.name or "", scope.space_id):
                raise name_taken_error(holder, scope.enterprise_id)
            claims = [("create", (claim,)), ("delete", (_held_claim(item),))]
            updated["name_claim"] = claim["id"]
        try:
            self._batch(self._spaces(), [*claims, ("replace", (item["id"], updated), {"if_match_etag": item["_etag"]})],
                        scope.enterprise_id)
        except exceptions.CosmosBatchOperationError as error:
            if error.status_code == 409:
                holder = self._name_holder(scope.enterprise_id, edit.name or "", scope.space_id)
                raise name_taken_error(holder or edit.name or "", scope.enterprise_id) from None
            raise
        return _space(updated)

    @_cosmos
    def delete_space(self, scope: Scope) -> None:
        item = self._space_item(scope)
        content = self._content(item["dimension"])
        ids = self._query(content, scope.enterprise_id, "SELECT VALUE c.id FROM c WHERE c.space_id = @space",
                          [{"name": "@space", "value": scope.space_id}])
        for part in _batches([("delete", (item_id,)) for item_id in ids]):
            self._batch(content, part, scope.enterprise_id)
        examples = self._query(self._spaces(), scope.enterprise_id,
                               "SELECT VALUE c.id FROM c WHERE c.space_id = @space AND c.type IN (@example, @plan)",
                               [{"name": "@space", "value": scope.space_id}, {"name": "@example", "value": EXAMPLE},
                                {"name": "@plan", "value": PLAN_EXAMPLE}])
        for part in _batches([("delete", (item_id,)) for item_id in examples]):
            self._batch(self._spaces(), part, scope.enterprise_id)
        self._batch(self._spaces(), [("delete", (_held_claim(item),)), ("delete", (item["id"],))],
                    scope.enterprise_id)
        self._dimensions.pop(scope, None)

    @_cosmos
    def space_stats(self, scope: Scope) -> SpaceStats:
        items = self._documents(scope)
        last = max((item["updated_at"] for item in items), default=None)
        return SpaceStats(len(items), sum(item["chunk_count"] for item in items),
                          sum(item["size_bytes"] for item in items), datetime.fromisoformat(last) if last else None)

    # -- documents --------------------------------------------------------------------------------------------

    def _documents(self, scope: Scope, search_filter: SearchFilter = SearchFilter(), extra: str = "",
                   extra_params: Sequence[dict] = ()) -> list[dict]:
        params = [{"name": "@space", "value": scope.space_id}, *extra_params]
        conditions = _filter_sql(search_filter, params)
        return self._query(
            self._space_content(scope), scope.enterprise_id,
            f"SELECT * FROM c WHERE c.type = 'document' AND c.space_id = @space{conditions}{extra} ORDER BY c.source",
            params,
        )

    def _document_item(self, scope: Scope, doc_id: str) -> dict | None:
        item = self._read(self._space_content(scope), doc_id, scope.enterprise_id)
        return item if item and item.get("type") == "document" and item["space_id"] == scope.space_id else None

    @_cosmos
    def find_document(self, scope: Scope, source: str) -> Document | None:
        item = self._document_item(scope, document_id(scope.space_id, source))
        return _document(item) if item else None

    @_cosmos
    def get_document(self, scope: Scope, document_id: str) -> Document:
        self._space_content(scope)
        item = self._document_item(scope, document_id)
        if item is None:
            raise NotFoundError(f"No document {document_id} in this space.")
        return _document(item)

    @_cosmos
    def list_documents(self, scope: Scope, search_filter: SearchFilter = SearchFilter()) -> list[Document]:
        return [_document(item) for item in self._documents(scope, search_filter)]

    @_cosmos
    def put_documents(self, scope: Scope, drafts: Sequence[DocumentDraft]) -> list[StoredDocument]:
        """Each document is written atomically on its own (see the module docstring), in the order given."""
        space = self._space_item(scope)
        for draft in drafts:
            if draft.vectors.shape != (len(draft.chunks), space["dimension"]):
                raise ValueError(f"{draft.source}: {len(draft.chunks)} chunks but vectors {draft.vectors.shape}")
        content = self._content(space["dimension"])
        return [self._put_document(content, scope, draft) for draft in drafts]

    def _counter(self, content: Any, scope: Scope) -> dict:
        counter_id = f"{scope.space_id}:counter"
        counter = self._read(content, counter_id, scope.enterprise_id)
        if counter is not None:
            return counter
        fresh = {"id": counter_id, "enterprise_id": scope.enterprise_id, "space_id": scope.space_id,
                 "type": "counter", "next_sequence": 1}
        try:
            return call_with_retries(lambda: content.create_item(fresh))
        except exceptions.CosmosResourceExistsError:
            return self._read(content, counter_id, scope.enterprise_id) or fresh

    def _commit(self, content: Any, scope: Scope, make: Callable[[int], tuple[list, dict]],
                landed: Callable[[], bool]) -> None:
        """Append one change-log entry together with `make(sequence)`'s operations, guarded by the counter's etag.

        Another writer that bumped the counter first makes the batch fail with 412; then it is rebuilt on the new
        counter value, unless `landed()` says this very write already went through (a request applied whose
        answer was lost and that the retry policy sent again): writing it twice would log the change twice.
        """
        for attempt in range(_MAX_COMMIT_ATTEMPTS):
            if attempt and landed():
                return
            counter = self._counter(content, scope)
            sequence = counter["next_sequence"]
            operations, change = make(sequence)
            operations = [*operations, ("create", (change,)), _advance(counter, sequence + 1)]
            try:
                self._batch(content, operations, scope.enterprise_id)
                return
            except exceptions.CosmosBatchOperationError as error:
                if error.status_code not in (409, 412):
                    raise
        raise BackendError("Too many concurrent writers changed this space at once; try again.")

    @staticmethod
    def _change(scope: Scope, sequence: int, doc: dict, kind: ChangeKind, changed_at: str | None = None) -> dict:
        """The change-log item of `doc` (an item with the document's id, source, version and hash)."""
        return {"id": f"{scope.space_id}:change:{sequence:012d}", "enterprise_id": scope.enterprise_id,
                "space_id": scope.space_id, "type": "change", "sequence": sequence, "document_id": doc["id"],
                "source": doc["source"], "version": doc["version"], "kind": str(kind),
                "content_hash": doc["content_hash"], "changed_at": changed_at or _now()}

    @_cosmos
    def write_history(self, scope: Scope, history: Sequence[DocumentChange]) -> None:
        """`KeepsHistory`: the change items numbered 1.. in `history`'s order, the counter set after them.

        Not one transaction (a history can pass a batch's 100 operations): the space is a copy being made, which
        `lmspace migrate` removes again if anything fails before it is done.
        """
        content = self._space_content(scope)
        items = [self._change(scope, sequence, {"id": document_id(scope.space_id, change.source),
                                                "source": change.source, "version": change.version,
                                                "content_hash": change.content_hash},
                              change.kind, change.changed_at.isoformat())
                 for sequence, change in enumerate(history, start=1)]
        logged = self._query(content, scope.enterprise_id,
                             "SELECT VALUE c.id FROM c WHERE c.type = 'change' AND c.space_id = @space",
                             [{"name": "@space", "value": scope.space_id}])
        kept = {item["id"] for item in items}
        for part in _batches([("upsert", (item,)) for item in items]
                             + [("delete", (item_id,)) for item_id in logged if item_id not in kept]):
            self._batch(content, part, scope.enterprise_id)
        try:
            self._batch(content, [_advance(self._counter(content, scope), len(items) + 1)], scope.enterprise_id)
        except exceptions.CosmosBatchOperationError as error:
            if error.status_code == 412:
                raise BackendError("The space was written to while its history was being copied; migrate it "
                                   "again.") from None
            raise

    def _put_document(self, content: Any, scope: Scope, draft: DocumentDraft) -> StoredDocument:
        doc_id = document_id(scope.space_id, draft.source)
        existing = self._document_item(scope, doc_id)
        if existing is not None and existing["content_hash"] == draft.content_hash:
            return StoredDocument(_document(existing), Outcome.UNCHANGED)
        version = existing["version"] + 1 if existing else draft.version or 1
        now = _now()
        tags = sorted(set(draft.tags))
        metadata = dict(draft.metadata) if draft.metadata is not None else (existing or {}).get("metadata") or {}
        doc = {"id": doc_id, "enterprise_id": scope.enterprise_id, "space_id": scope.space_id, "type": "document",
               "source": draft.source, "title": draft.title, "doc_type": draft.doc_type, "tags": tags,
               "content_hash": draft.content_hash, "size_bytes": draft.size_bytes, "version": version,
               "chunk_count": len(draft.chunks), "codebase": draft.codebase, "metadata": metadata,
               "created_at": existing["created_at"] if existing else now, "updated_at": now,
               "raw_year": _raw_year(draft, existing, now)}
        chunks = [
            ("upsert", ({"id": chunk_id(doc_id, version, ordinal), "enterprise_id": scope.enterprise_id,
                         "space_id": scope.space_id, "type": "chunk", "document_id": doc_id, "version": version,
                         "ordinal": ordinal, "content": chunk.text, "embedding": vector.tolist(),
                         "location": {key: getattr(chunk.location, key) for key in _LOCATION_KEYS},
                         "doc_type": draft.doc_type, "tags": tags, "metadata": metadata},))
            for ordinal, (chunk, vector) in enumerate(zip(draft.chunks, draft.vectors, strict=True))
        ]
        room = BATCH_LIMIT - _COMMIT_OPERATIONS
        split = max(len(chunks) - room, 0)
        head, tail = chunks[:split], chunks[split:]
        for part in _batches(head):
            self._batch(content, part, scope.enterprise_id)
        kind = ChangeKind.REPLACED if existing else ChangeKind.ADDED
        def landed() -> bool:
            current = self._document_item(scope, doc_id)
            return current is not None and (current["version"], current["content_hash"]) == (version,
                                                                                              draft.content_hash)

        self._commit(content, scope, lambda sequence: ([*tail, ("upsert", (doc,))],
                                                       self._change(scope, sequence, doc, kind)), landed)
        if existing is not None:
            self._delete_chunks(content, scope, existing)
        outcome = Outcome.REPLACED if existing else Outcome.ADDED
        return StoredDocument(_document(doc), outcome, existing["content_hash"] if existing else None)

    def _delete_chunks(self, content: Any, scope: Scope, doc: dict) -> None:
        ids = [chunk_id(doc["id"], doc["version"], ordinal) for ordinal in range(doc["chunk_count"])]
        for part in _batches([("delete", (item_id,)) for item_id in ids]):
            try:
                self._batch(content, part, scope.enterprise_id)
            except exceptions.CosmosBatchOperationError as error:
                if error.status_code != 404:  # a retried deletion finds some chunks gone already
                    raise
                for operation in part:
                    try:
                        call_with_retries(lambda op=operation: content.delete_item(op[1][0], scope.enterprise_id))
                    except exceptions.CosmosResourceNotFoundError:
                        pass

    @_cosmos
    def delete_document(self, scope: Scope, document_id: str) -> Document:
        content = self._space_content(scope)
        existing = self._document_item(scope, document_id)
        if existing is None:
            raise NotFoundError(f"No document {document_id} in this space.")
        self._commit(content, scope, lambda sequence: ([("delete", (document_id,))],
                                                       self._change(scope, sequence, existing, ChangeKind.DELETED)),
                     lambda: self._document_item(scope, document_id) is None)
        self._delete_chunks(content, scope, existing)
        return _document(existing)

    def _chunk_items(self, scope: Scope, document_ids: Sequence[str] | None = None,
                     documents: Sequence[dict] | None = None) -> list[dict]:
        """Chunks at their document's current version (an interrupted write's leftovers are not theirs), of every
        document or of `document_ids`; `documents` are those documents' items when the caller has read them."""
        if documents is None:
            documents = self._documents(scope, extra=_ids_condition("c.id", document_ids),
                                        extra_params=_ids_params(document_ids))
        versions = {item["id"]: item["version"] for item in documents}
        items = self._query(
            self._space_content(scope), scope.enterprise_id,
            "SELECT * FROM c WHERE c.type = 'chunk' AND c.space_id = @space"
            f"{_ids_condition('c.document_id', document_ids)} ORDER BY c.document_id, c.ordinal",
            [{"name": "@space", "value": scope.space_id}, *_ids_params(document_ids)])
        return [item for item in items if versions.get(item["document_id"]) == item["version"]]

    @_cosmos
    def list_chunks(self, scope: Scope, document_id: str | None = None) -> list[Chunk]:
        return [_chunk(item) for item in self._chunk_items(scope, None if document_id is None else [document_id])]

    @_cosmos
    def snapshot(self, scope: Scope, document_ids: Sequence[str] | None = None) -> SpaceSnapshot:
        """Documents (all, or these) with their chunks and vectors, for the offline read cache.

        `sequence` is the change log's position, read before the documents: a change they miss comes after it.
        """
        counter = self._read(self._space_content(scope), f"{scope.space_id}:counter", scope.enterprise_id)
        documents = self._documents(scope, extra=_ids_condition("c.id", document_ids),
                                    extra_params=_ids_params(document_ids))
        chunks, vectors = self._with_vectors(scope, self._chunk_items(scope, document_ids, documents))
        return SpaceSnapshot(counter["next_sequence"] - 1 if counter else 0, tuple(map(_document, documents)),
                             tuple(chunks), vectors)

    @_cosmos
    def list_chunk_vectors(self, scope: Scope, document_id: str | None = None) -> tuple[list[Chunk], np.ndarray]:
        return self._with_vectors(scope, self._chunk_items(scope, None if document_id is None else [document_id]))

    def _with_vectors(self, scope: Scope, items: Sequence[dict]) -> tuple[list[Chunk], np.ndarray]:
        """Chunk items as chunks, and their embeddings as one row each."""
        vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        return [_chunk(item) for item in items], vectors.reshape(len(items), self._space_item(scope)["dimension"])

    @_cosmos
    def changes(self, scope: Scope, after_sequence: int = 0) -> list[DocumentChange]:
        try:
            content = self._space_content(scope)
        except NotFoundError:
            return []  # a deleted space has no change log left, as in the embedded store
        items = self._query(
            content, scope.enterprise_id,
            "SELECT * FROM c WHERE c.type = 'change' AND c.space_id = @space AND c.sequence > @after "
            "ORDER BY c.sequence",
            [{"name": "@space", "value": scope.space_id}, {"name": "@after", "value": after_sequence}],
        )
        return [
            DocumentChange(sequence=item["sequence"], enterprise_id=item["enterprise_id"], space_id=item["space_id"],
                           document_id=item["document_id"], source=item["source"], version=item["version"],
                           kind=ChangeKind(item["kind"]), content_hash=item["content_hash"],
                           changed_at=datetime.fromisoformat(item["changed_at"]))
            for item in items
        ]

    @_cosmos
    def replace_vectors(self, scope: Scope, embedder_id: str, vectors: np.ndarray, chunk_ids: Sequence[str]) -> None:
        """New vectors for every chunk; a new dimension moves the space's content to that dimension's container."""
        space = self._space_item(scope)
        old = self._content(space["dimension"])
        chunks = {item["id"]: item for item in self._chunk_items(scope)}
        if set(chunks) != set(chunk_ids) or len(chunk_ids) != vectors.shape[0]:
            raise LMSpaceError("The space changed while it was being re-embedded; run the re-embed again.")
        dimension = int(vectors.shape[1])
        new = self._content(dimension)
        moved = [{**chunks[key], "embedding": vector.tolist()}
                 for key, vector in zip(chunk_ids, vectors, strict=True)]
        if dimension != space["dimension"]:
            others = self._query(old, scope.enterprise_id, "SELECT * FROM c WHERE c.space_id = @space AND "
                                 "c.type != 'chunk'", [{"name": "@space", "value": scope.space_id}])
            moved.extend(others)
        clean = [{key: value for key, value in item.items() if not key.startswith("_")} for item in moved]
        for part in _batches([("upsert", (item,)) for item in clean]):
            self._batch(new, part, scope.enterprise_id)
        updated = {key: value for key, value in space.items() if not key.startswith("_")}
        updated.update(embedder_id=embedder_id, dimension=dimension, updated_at=_now())
        call_with_retries(lambda: self._spaces().replace_item(space["id"], updated))
        self._dimensions[scope] = dimension
        if dimension != space["dimension"]:
            leftovers = self._query(old, scope.enterprise_id, "SELECT VALUE c.id FROM c WHERE c.space_id = @space",
                                    [{"name": "@space", "value": scope.space_id}])
            for part in _batches([("delete", (item_id,)) for item_id in leftovers]):
                self._batch(old, part, scope.enterprise_id)

    # -- search -----------------------------------------------------------------------------------------------

    @_cosmos
    def search(
        self, scope: Scope, query: np.ndarray, k: int, search_filter: SearchFilter = SearchFilter()
    ) -> list[Hit]:
        """Cosmos' vector search, in the enterprise's partition and the space only, filters in the query."""
        content = self._space_content(scope)  # a scope never read before (a foreign one) is looked up: NotFoundError
        dimension = self._dimensions[scope]
        if query.shape != (dimension,):
            raise LMSpaceError(f"The query vector has shape {query.shape}; this space holds {dimension}-d vectors.")
        params = [{"name": "@k", "value": k}, {"name": "@q", "value": query.astype(np.float32).tolist()},
                  {"name": "@space", "value": scope.space_id}]
        conditions = _filter_sql(search_filter, params)
        items = self._query(
            content, scope.enterprise_id,
            "SELECT TOP @k c.id, c.enterprise_id, c.space_id, c.document_id, c.version, c.ordinal, c.content, "
            "c.location, VectorDistance(c.embedding, @q) AS score FROM c "
            f"WHERE c.type = 'chunk' AND c.space_id = @space{conditions} ORDER BY VectorDistance(c.embedding, @q)",
            params,
        )
        if not items:
            return []
        ids = sorted({item["document_id"] for item in items})
        documents = {doc["id"]: doc for doc in self._documents(
            scope, extra=" AND ARRAY_CONTAINS(@ids, c.id)", extra_params=[{"name": "@ids", "value": ids}])}
        return [
            Hit(chunk=_chunk(item), document=_document(documents[item["document_id"]]), score=float(item["score"]))
            for item in items
            if item["document_id"] in documents and documents[item["document_id"]]["version"] == item["version"]
        ]
