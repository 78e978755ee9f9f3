"""Chat conversations kept per space, so that a reload, another browser tab or tomorrow shows them again.

They live in the embedded SQLite database of the data directory (migration 8) on either store backend: a
conversation is the dashboard user's history, not knowledge of the space. Each answer is stored whole (text, mode,
citations) so that a past answer renders exactly as it did when it was given.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from lmspace_core.domain import Answer, AnswerMode, Citation, Location, Scope, to_json_data
from lmspace_core.errors import LMSpaceError
from lmspace_core.stores.local.database import Database, utc_now

TITLE_LENGTH = 80  # characters of the first question that name a conversation in the list


@dataclass(frozen=True)
class Conversation:
    """A conversation with a space's agent, named after its first question."""

    id: str
    enterprise_id: str
    space_id: str
    title: str
    created_at: datetime
    updated_at: datetime


def _conversation(row) -> Conversation:
    return Conversation(
        id=row["id"], enterprise_id=row["enterprise_id"], space_id=row["space_id"], title=row["title"],
        created_at=datetime.fromisoformat(row["created_at"]), updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    citations = tuple(
        Citation(**{**cited, "location": Location(**cited["location"])}) for cited in data["citations"]
    )
    cached_at = datetime.fromisoformat(data["cached_at"]) if data.get("cached_at") else None
    return Answer(question=data["question"], text=data["text"], mode=AnswerMode(data["mode"]),
                  citations=citations, space_id=data["space_id"], cached_at=cached_at)


class ConversationStore:
    """Reads and writes the `conversations` and `conversation_answers` tables; each method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def start(self, scope: Scope, first_question: str) -> Conversation:
        """A new, empty conversation in the space, titled by the question that opens it."""
        title = " ".join(first_question.split())
        title = title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1] + "…"
        now = utc_now()
        conversation_id = uuid.uuid4().hex[:12]
        with self._db.write() as connection:
            connection.execute(
                "INSERT INTO conversations (id, enterprise_id, space_id, title, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, scope.enterprise_id, scope.space_id, title or "Conversation", now, now),
            )
        return self.get(conversation_id)

    def get(self, conversation_id: str) -> Conversation:
        with self._db.read() as connection:
            row = connection.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise LMSpaceError(f"There is no conversation {conversation_id}; it may have been deleted.")
        return _conversation(row)

    def add_answer(self, conversation_id: str, answer: Answer) -> None:
        """Append an answer (it carries its question) to the conversation and mark the conversation as updated."""
        now = utc_now()
        with self._db.write() as connection:
            updated = connection.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            ).rowcount
            if not updated:
                raise LMSpaceError(f"There is no conversation {conversation_id}; it may have been deleted.")
            connection.execute(
                "INSERT INTO conversation_answers (conversation_id, position, answer, created_at) VALUES "
                "(?, (SELECT COUNT(*) FROM conversation_answers WHERE conversation_id = ?), ?, ?)",
                (conversation_id, conversation_id, json.dumps(to_json_data(answer)), now),
            )

    def answers(self, conversation_id: str) -> list[Answer]:
        """The conversation's answers, oldest first."""
        with self._db.read() as connection:
            rows = connection.execute(
                "SELECT answer FROM conversation_answers WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        return [answer_from_json(row["answer"]) for row in rows]

    def list(self, scope: Scope) -> list[Conversation]:
        """The space's conversations, the most recently continued first."""
        with self._db.read() as connection:
            rows = connection.execute(
                "SELECT * FROM conversations WHERE enterprise_id = ? AND space_id = ? "
                "ORDER BY updated_at DESC, id",
                (scope.enterprise_id, scope.space_id),
            ).fetchall()
        return [_conversation(row) for row in rows]

    def delete(self, conversation_id: str) -> bool:
        """Delete a conversation and its answers; False when there is none with that id."""
        with self._db.write() as connection:
            return connection.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0
