"""A space's examples, which prompt optimisation learns from: question/answer pairs its users wrote or accepted, and
research tasks with the plan that answers them.

They live beside the space they belong to and disappear with it: in the embedded SQLite database (migrations 4 and
6), or, on Azure, as Cosmos DB items in the enterprise's partition (`lmspace_core/stores/azure/examples.py`). One
example per question (or task): adding it again replaces its answer, so a thumbs-up given twice is one example.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lmspace_core.agents.citations import without_markers
from lmspace_core.config import Settings
from lmspace_core.domain import Answer, Scope
from lmspace_core.errors import LMSpaceError, NotAvailableYetError
from lmspace_core.stores.local.database import Database, utc_now

if TYPE_CHECKING:
    from lmspace_core.research.plan import ResearchPlan


class ExampleOrigin(StrEnum):
    WRITTEN = "written"  # typed by a person (`lmspace examples add`, the Python API)
    ACCEPTED = "accepted"  # an answer of the agent that a person approved in the chat


@dataclass(frozen=True)
class SpaceExample:
    """A question and the answer the space's agent should give to it."""

    id: str
    enterprise_id: str
    space_id: str
    question: str
    answer: str
    origin: ExampleOrigin
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlanExample:
    """A research task over the space's code and the plan the research planner should make for it."""

    id: str
    enterprise_id: str
    space_id: str
    plan: ResearchPlan
    origin: ExampleOrigin
    created_at: datetime
    updated_at: datetime


def plan_example(row: Mapping[str, Any]) -> PlanExample:
    from lmspace_core.research.plan import ResearchPlan  # RE2 and the plan model: not for `lmspace --help`

    return PlanExample(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"],
        plan=ResearchPlan.from_json(row["plan"]), origin=ExampleOrigin(row["origin"]),
        created_at=datetime.fromisoformat(row["created_at"]), updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def space_example(row: Mapping[str, Any]) -> SpaceExample:
    return SpaceExample(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"], question=row["question"],
        answer=row["answer"], origin=ExampleOrigin(row["origin"]),
        created_at=datetime.fromisoformat(row["created_at"]), updated_at=datetime.fromisoformat(row["updated_at"]),
    )


class ExampleStore(ABC):
    """A space's examples; what adding, accepting and withdrawing mean is the same whatever keeps them."""

    def add(self, scope: Scope, question: str, answer: str, origin: ExampleOrigin = ExampleOrigin.WRITTEN
            ) -> SpaceExample:
        """Store the pair (or replace the answer of the same question); return the example as stored."""
        question, answer = question.strip(), answer.strip()
        if not question or not answer:
            raise LMSpaceError("An example needs both a question and an answer; one of them is empty.")
        return self._put(scope, question, answer, origin)

    def accept(self, scope: Scope, answer: Answer) -> SpaceExample:
        """Save an answer of the agent that a person approved as its question's example, without [n] markers
        (which number passages of that one retrieval)."""
        return self.add(scope, answer.question, without_markers(answer.text), ExampleOrigin.ACCEPTED)

    def withdraw(self, scope: Scope, answer: Answer) -> bool:
        """Take an approval back: delete the question's example if it is still this accepted answer."""
        return self._withdraw(scope, answer.question.strip(), without_markers(answer.text))

    @abstractmethod
    def _put(self, scope: Scope, question: str, answer: str, origin: ExampleOrigin) -> SpaceExample: ...

    @abstractmethod
    def _withdraw(self, scope: Scope, question: str, accepted_answer: str) -> bool:
        """Delete the question's example if its answer is `accepted_answer` and its origin `accepted`."""

    @abstractmethod
    def list(self, scope: Scope) -> list[SpaceExample]:
        """The space's examples, oldest first."""

    @abstractmethod
    def add_plan(self, scope: Scope, plan: ResearchPlan, origin: ExampleOrigin = ExampleOrigin.WRITTEN
                 ) -> PlanExample:
        """Store a task's plan (or replace the plan of the same task); return the example as stored."""

    @abstractmethod
    def list_plans(self, scope: Scope) -> list[PlanExample]:
        """The space's research examples, oldest first."""

    @abstractmethod
    def delete(self, scope: Scope, example_id: str) -> bool:
        """Delete one example (question/answer or research) of the space; False when it has none with that id."""


@runtime_checkable
class KeepsExamples(Protocol):
    """A knowledge store that keeps examples itself (Azure's, in Cosmos DB beside the spaces)."""

    def examples(self) -> ExampleStore: ...


class LocalExampleStore(ExampleStore):
    """Reads and writes the `space_examples` and `plan_examples` tables; each method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def _put(self, scope: Scope, question: str, answer: str, origin: ExampleOrigin) -> SpaceExample:
        now = utc_now()
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO space_examples (id, enterprise_id, space_id, question, answer, origin, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (space_id, question) DO UPDATE SET "
                "answer = excluded.answer, origin = excluded.origin, updated_at = excluded.updated_at",
                (uuid.uuid4().hex[:12], scope.enterprise_id, scope.space_id, question, answer, origin.value, now, now),
            )
            row = connection.execute(
                "SELECT * FROM space_examples WHERE enterprise_id = ? AND space_id = ? AND question = ?",
                (scope.enterprise_id, scope.space_id, question),
            ).fetchone()
        return space_example(row)

    def _withdraw(self, scope: Scope, question: str, accepted_answer: str) -> bool:
        with self._db.write() as connection:
            cursor = connection.execute(
                "DELETE FROM space_examples WHERE enterprise_id = ? AND space_id = ? AND question = ? AND answer = ? "
                "AND origin = ?",
                (scope.enterprise_id, scope.space_id, question, accepted_answer, ExampleOrigin.ACCEPTED.value),
            )
        return cursor.rowcount > 0

    def list(self, scope: Scope) -> list[SpaceExample]:
        with self._db.read() as connection:
            rows = connection.execute(
                "SELECT * FROM space_examples WHERE enterprise_id = ? AND space_id = ? ORDER BY created_at, id",
                (scope.enterprise_id, scope.space_id),
            ).fetchall()
        return [space_example(row) for row in rows]

    def add_plan(self, scope: Scope, plan: ResearchPlan, origin: ExampleOrigin = ExampleOrigin.WRITTEN
                 ) -> PlanExample:
        now = utc_now()
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO plan_examples (id, enterprise_id, space_id, task, plan, origin, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (space_id, task) DO UPDATE SET plan = excluded.plan, "
                "origin = excluded.origin, updated_at = excluded.updated_at",
                (uuid.uuid4().hex[:12], scope.enterprise_id, scope.space_id, plan.task, plan.to_json(), origin.value,
                 now, now),
            )
            row = connection.execute(
                "SELECT * FROM plan_examples WHERE enterprise_id = ? AND space_id = ? AND task = ?",
                (scope.enterprise_id, scope.space_id, plan.task),
            ).fetchone()
        return plan_example(row)

    def list_plans(self, scope: Scope) -> list[PlanExample]:
        with self._db.read() as connection:
            rows = connection.execute(
                "SELECT * FROM plan_examples WHERE enterprise_id = ? AND space_id = ? ORDER BY created_at, id",
                (scope.enterprise_id, scope.space_id),
            ).fetchall()
        return [plan_example(row) for row in rows]

    def delete(self, scope: Scope, example_id: str) -> bool:
        with self._db.write() as connection:
            deleted = sum(
                connection.execute(f"DELETE FROM {table} WHERE enterprise_id = ? AND space_id = ? AND id = ?",
                                   (scope.enterprise_id, scope.space_id, example_id)).rowcount
                for table in ("space_examples", "plan_examples")
            )
        return deleted > 0


@contextmanager
def open_examples(settings: Settings) -> Iterator[ExampleStore]:
    """The example store of a configuration, open for the duration of the block (its connections closed after):
    the embedded database's tables, or those of a knowledge store that keeps examples itself (Azure)."""
    if settings.store.backend == "embedded":
        database = Database(settings.data_dir / "lmspace.db")
        try:
            yield LocalExampleStore(database)
        finally:
            database.close()
        return
    from lmspace_core.workspace import build_stores

    store, _, _ = build_stores(settings)
    try:
        if not isinstance(store, KeepsExamples):
            raise NotAvailableYetError(f"The {settings.store.backend} store keeps no examples; use store.backend: "
                                       "embedded or azure.")
        yield store.examples()
    finally:
        store.close()
