"""A space's examples on Azure: Cosmos DB items in the `spaces` container, in the enterprise's partition.

Examples are few and small and carry no vectors, so they sit beside the space items rather than in a content
container (whose vector policy they do not need). An item's id is fixed by its space and question (or task), which
makes "one example per question" hold without a unique index: adding it again replaces it, keeping its creation time.
Deleting a space deletes its examples (`CosmosKnowledgeStore.delete_space`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.cosmos import exceptions

from lmspace_core.domain import Scope
from lmspace_core.examples import ExampleOrigin, ExampleStore, PlanExample, SpaceExample, plan_example, space_example
from lmspace_core.stores.azure.boundary import azure_call
from lmspace_core.stores.azure.retry import call_with_retries

if TYPE_CHECKING:
    from lmspace_core.research.plan import ResearchPlan

EXAMPLE, PLAN_EXAMPLE = "example", "plan_example"  # item types, also what `delete_space` removes
_cosmos = azure_call("Cosmos DB")


def _key(scope: Scope, text: str) -> str:
    """An example's id: fixed by its space and question (or task), and never the same in two spaces."""
    return hashlib.sha256(f"{scope.space_id}\0{text}".encode()).hexdigest()[:12]


class CosmosExampleStore(ExampleStore):
    """`ExampleStore` over the container the knowledge store keeps its spaces in."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def _item_id(self, scope: Scope, kind: str, example_id: str) -> str:
        return f"{scope.space_id}:{kind}:{example_id}"

    def _read(self, scope: Scope, item_id: str) -> dict | None:
        try:
            return call_with_retries(lambda: self._container.read_item(item_id, partition_key=scope.enterprise_id))
        except exceptions.CosmosResourceNotFoundError:
            return None

    def _upsert(self, scope: Scope, kind: str, example_id: str, fields: dict) -> dict:
        item_id = self._item_id(scope, kind, example_id)
        now = datetime.now(UTC).isoformat()
        existing = self._read(scope, item_id)
        item = {"id": item_id, "enterprise_id": scope.enterprise_id, "space_id": scope.space_id, "type": kind,
                "example_id": example_id, **fields, "created_at": existing["created_at"] if existing else now,
                "updated_at": now}
        call_with_retries(lambda: self._container.upsert_item(item))
        return {**item, "id": example_id}

    def _items(self, scope: Scope, kind: str) -> list[dict]:
        items = call_with_retries(lambda: list(self._container.query_items(
            "SELECT * FROM c WHERE c.type = @type AND c.space_id = @space",
            parameters=[{"name": "@type", "value": kind}, {"name": "@space", "value": scope.space_id}],
            partition_key=scope.enterprise_id)))
        return sorted(({**item, "id": item["example_id"]} for item in items),
                      key=lambda item: (item["created_at"], item["id"]))

    def _remove(self, scope: Scope, item_id: str) -> bool:
        try:
            call_with_retries(lambda: self._container.delete_item(item_id, partition_key=scope.enterprise_id))
        except exceptions.CosmosResourceNotFoundError:
            return False
        return True

    @_cosmos
    def _put(self, scope: Scope, question: str, answer: str, origin: ExampleOrigin) -> SpaceExample:
        return space_example(self._upsert(scope, EXAMPLE, _key(scope, question),
                                          {"question": question, "answer": answer, "origin": origin.value}))

    @_cosmos
    def _withdraw(self, scope: Scope, question: str, accepted_answer: str) -> bool:
        item = self._read(scope, self._item_id(scope, EXAMPLE, _key(scope, question)))
        if item is None or (item["answer"], item["origin"]) != (accepted_answer, ExampleOrigin.ACCEPTED.value):
            return False
        return self._remove(scope, item["id"])

    @_cosmos
    def list(self, scope: Scope) -> list[SpaceExample]:
        return [space_example(item) for item in self._items(scope, EXAMPLE)]

    @_cosmos
    def add_plan(self, scope: Scope, plan: ResearchPlan, origin: ExampleOrigin = ExampleOrigin.WRITTEN
                 ) -> PlanExample:
        return plan_example(self._upsert(scope, PLAN_EXAMPLE, _key(scope, plan.task),
                                         {"task": plan.task, "plan": plan.to_json(), "origin": origin.value}))

    @_cosmos
    def list_plans(self, scope: Scope) -> list[PlanExample]:
        return [plan_example(item) for item in self._items(scope, PLAN_EXAMPLE)]

    @_cosmos
    def delete(self, scope: Scope, example_id: str) -> bool:
        removed = [self._remove(scope, self._item_id(scope, kind, example_id)) for kind in (EXAMPLE, PLAN_EXAMPLE)]
        return any(removed)
