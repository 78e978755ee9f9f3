"""The embedded knowledge store: SQLite for records, one vector file per space for embeddings.

Write protocol (what makes a crash harmless): a write takes SQLite's write lock (`BEGIN IMMEDIATE`), appends the new
vectors to the space's file and fsyncs them, then commits the rows that point at them together with the new row
count. A crash before the commit leaves extra rows at the end of the file, which `open` cuts off again. Rewrites of
a whole matrix (compaction, re-embedding) go to a new file whose name is committed with the rows; files no space
names are removed on open.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from lmspace_core.domain import (
    ChangeKind,
    Chunk,
    Document,
    DocumentChange,
    Hit,
    Location,
    Outcome,
    Progress,
    ProgressCallback,
    Scope,
    SearchFilter,
    SearchPlan,
    Space,
    SpaceStats,
)
from lmspace_core.domain import document_id as new_document_id
from lmspace_core.errors import AlreadyExistsError, LMSpaceError, NotFoundError
from lmspace_core.names import name_taken_error
from lmspace_core.stores.base import DocumentDraft, SpaceEdit, StoredDocument
from lmspace_core.stores.local.approximate import (
    ApproximateIndexes,
    HnswParams,
    IndexKey,
    remove_index_files,
)
from lmspace_core.stores.local.database import Database, utc_now
from lmspace_core.stores.local.ranking import reciprocal_rank_fusion, top_k
from lmspace_core.stores.local.vectors import VectorFile

log = logging.getLogger(__name__)

# How deep each ranking goes before hybrid search fuses them (20 and 50 measured the same on the QA set).
HYBRID_DEPTH = 50
# Compact a space's vector file once masked rows outnumber live ones (and there are enough to matter).
COMPACT_MIN_DEAD_ROWS = 1000

_DOCUMENT_COLUMNS = (
    "d.id, d.enterprise_id, d.space_id, d.source, d.title, d.doc_type, d.tags, d.content_hash, d.size_bytes, "
    "d.version, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id), d.codebase, d.created_at, d.updated_at, "
    "d.metadata"
)
_CHUNK_COLUMNS = (
    "c.id, c.enterprise_id, c.space_id, c.document_id, c.ordinal, c.text, c.page, c.heading, c.start_line, c.end_line"
)


class DamagedSpaceError(LMSpaceError):
    """A space's vector file holds fewer rows than the database committed: its search index is lost, its text not."""


@dataclass(frozen=True)
class VectorCount:
    """How many vectors the database committed for a space and how many its file holds; `problem` if too few."""

    scope: Scope
    name: str
    committed: int
    stored: int
    problem: str = ""


def _damaged_space(space: sqlite3.Row, vector_file: VectorFile) -> DamagedSpaceError:
    name, enterprise = shlex.quote(space["name"]), space["enterprise_id"]
    return DamagedSpaceError(
        f"Space '{space['name']}' (enterprise '{enterprise}') is damaged: its vector file {vector_file.path} holds "
        f"{vector_file.stored_rows()} of the {space['vector_count']} vectors the database records (it was truncated "
        f"or removed outside LMSpace). Its documents are intact: rebuild its vectors with "
        f"`lmspace --enterprise {enterprise} spaces reembed {name}`, or remove it with "
        f"`lmspace --enterprise {enterprise} spaces delete {name}`. Other spaces are not affected."
    )


def _space(row: sqlite3.Row) -> Space:
    return Space(
        id=row["id"],
        enterprise_id=row["enterprise_id"],
        name=row["name"],
        description=row["description"],
        instructions=row["instructions"],
        embedder_id=row["embedder_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _document(row: Sequence) -> Document:
    return Document(
        id=row[0],
        enterprise_id=row[1],
        space_id=row[2],
        source=row[3],
        title=row[4],
        doc_type=row[5],
        tags=tuple(json.loads(row[6])),
        content_hash=row[7],
        size_bytes=row[8],
        version=row[9],
        chunk_count=row[10],
        codebase=row[11],
        created_at=datetime.fromisoformat(row[12]),
        updated_at=datetime.fromisoformat(row[13]),
        metadata=json.loads(row[14]),
    )


def _chunk(row: Sequence) -> Chunk:
    return Chunk(
        id=row[0],
        enterprise_id=row[1],
        space_id=row[2],
        document_id=row[3],
        ordinal=row[4],
        text=row[5],
        location=Location(page=row[6], heading=row[7], start_line=row[8], end_line=row[9]),
    )


def _document_filter_sql(search_filter: SearchFilter) -> tuple[str, list]:
    """SQL conditions on documents `d` for a filter: any of the doc types, all of the tags, every metadata value."""
    clauses, params = [], []
    if search_filter.doc_types:
        clauses.append(f"d.doc_type IN ({','.join('?' * len(search_filter.doc_types))})")
        params.extend(search_filter.doc_types)
    if search_filter.tags:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM json_each(?) wanted "
            "WHERE wanted.value NOT IN (SELECT value FROM json_each(d.tags)))"
        )
        params.append(json.dumps(list(search_filter.tags)))
    for key, value in search_filter.metadata:
        # The key is a bound JSON path (quoted member name), so no key can change the query's shape.
        clauses.append("json_extract(d.metadata, ?) IS ?")
        params.extend([f"$.{json.dumps(key)}", int(value) if isinstance(value, bool) else value])
    return "".join(f" AND {clause}" for clause in clauses), params


def _index_key(space: sqlite3.Row) -> IndexKey:
    return IndexKey(space["vector_file"], space["generation"], space["vector_count"])


class LocalKnowledgeStore:
    """`KnowledgeStore` over the SQLite database and `<data_dir>/vectors/<enterprise>/<file>.f32`.

    With `approximate` set, spaces of at least `approximate.min_chunks` vectors can get an HNSW index
    (`build_approximate_index`), which then answers their unfiltered searches (see `approximate`).
    """

    def __init__(self, database: Database, data_dir: Path, approximate: HnswParams | None = None) -> None:
        self._db = database
        self._vector_dir = data_dir / "vectors"
        self._vector_files: dict[str, VectorFile] = {}
        self._live_masks: dict[str, tuple[int, np.ndarray]] = {}  # space id -> (generation, live rows)
        self._approximate = ApproximateIndexes(approximate) if approximate else None
        self.repaired_on_open = self._repair_vector_files()

    def close(self) -> None:
        self._db.close()

    # -- vector files -----------------------------------------------------------------------------------------

    def _vector_file(self, enterprise_id: str, file_name: str, dimension: int) -> VectorFile:
        vector_file = self._vector_files.get(file_name)
        if vector_file is None:
            vector_file = VectorFile(self._vector_dir / enterprise_id / file_name, dimension)
            self._vector_files[file_name] = vector_file
        return vector_file

    def _repair_vector_files(self) -> tuple[str, ...]:
        """Cut uncommitted rows and remove files no space names (left by a crash during a write or rewrite).

        Returns what was repaired. A damaged space (a file shorter than its committed rows) is only logged here:
        it is refused when used, and every other space keeps working.
        """
        repaired = []
        with self._db.write() as connection:
            named, current_indexes = set(), set()
            for row in connection.execute("SELECT * FROM spaces").fetchall():
                named.add(self._vector_dir / row["enterprise_id"] / row["vector_file"])
                current_indexes.add(_index_key(row).stem)
                vector_file = self._vector_file(row["enterprise_id"], row["vector_file"], row["dimension"])
                if vector_file.repair(row["vector_count"]):
                    repaired.append(f"cut uncommitted vectors from {vector_file.path} (space '{row['name']}')")
                if vector_file.stored_rows() < row["vector_count"]:
                    log.info("%s", _damaged_space(row, vector_file))
            for path in self._vector_dir.glob("*/*.f32"):
                if path not in named:
                    path.unlink()
                    repaired.append(f"removed {path}, which no space uses")
            for folder in self._vector_dir.glob("*/"):
                for path in remove_index_files(folder, keep=current_indexes):
                    repaired.append(f"removed {path}, an approximate index of an older state of its space")
        for repair in repaired:
            log.info("repaired on open: %s", repair)
        return tuple(repaired)

    def _intact_vector_file(self, space: sqlite3.Row) -> VectorFile:
        """The space's vector file, refused with the repair commands when it lost committed rows."""
        vector_file = self._vector_file(space["enterprise_id"], space["vector_file"], space["dimension"])
        if vector_file.stored_rows() < space["vector_count"]:
            raise _damaged_space(space, vector_file)
        return vector_file

    def vector_counts(self) -> list[VectorCount]:
        """Committed and stored vectors of every space of every enterprise (what `lmspace doctor` checks)."""
        counts = []
        for row in self._db.fetch_all("SELECT * FROM spaces ORDER BY enterprise_id, name"):
            vector_file = self._vector_file(row["enterprise_id"], row["vector_file"], row["dimension"])
            stored = vector_file.stored_rows()
            problem = str(_damaged_space(row, vector_file)) if stored < row["vector_count"] else ""
            counts.append(VectorCount(Scope(row["enterprise_id"], row["id"]), row["name"], row["vector_count"], stored,
                                      problem))
        return counts

    def _rewrite_vectors(
        self, connection: sqlite3.Connection, scope: Scope, row_keys: Sequence[int], vectors: np.ndarray
    ) -> str:
        """Write `vectors` to a fresh file, point chunk `row_keys[i]` at row i, and return the new file's name."""
        file_name = f"{scope.space_id}-{uuid.uuid4().hex[:8]}.f32"
        self._vector_file(scope.enterprise_id, file_name, vectors.shape[1]).append(vectors, at_row=0)
        # Negative rows first so that renumbering never collides with the unique (space, row) index.
        connection.execute(
            "UPDATE chunks SET vector_row = -1 - vector_row WHERE space_id = ? AND enterprise_id = ?",
            (scope.space_id, scope.enterprise_id),
        )
        connection.executemany(
            "UPDATE chunks SET vector_row = ? WHERE row_key = ?", [(row, key) for row, key in enumerate(row_keys)]
        )
        return file_name

    def _retire_vector_file(self, enterprise_id: str, file_name: str) -> None:
        vector_file = self._vector_files.pop(file_name, None)
        (vector_file.path if vector_file else self._vector_dir / enterprise_id / file_name).unlink(missing_ok=True)

    # -- spaces -----------------------------------------------------------------------------------------------

    def create_space(
        self, enterprise_id: str, name: str, description: str, instructions: str, embedder_id: str, dimension: int
    ) -> Space:
        space_id = uuid.uuid4().hex[:16]
        now = utc_now()
        try:
            with self._db.write() as connection:
                connection.execute(
                    "INSERT INTO spaces (id, enterprise_id, name, description, instructions, embedder_id, dimension, "
                    "vector_file, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (space_id, enterprise_id, name, description, instructions, embedder_id, dimension,
                     f"{space_id}-0.f32", now, now),
                )
        except sqlite3.IntegrityError:
            raise self._name_taken(enterprise_id, name) from None
        return self.get_space(Scope(enterprise_id, space_id))

    def _name_taken(self, enterprise_id: str, name: str) -> AlreadyExistsError:
        """The error for a name the unique index refused: it names the space that holds it, in its own case."""
        row = self._db.fetch_one(
            "SELECT name FROM spaces WHERE enterprise_id = ? AND name = ? COLLATE NOCASE", (enterprise_id, name)
        )
        return name_taken_error(row["name"] if row else name, enterprise_id)

    def _space_row(self, connection: sqlite3.Connection, scope: Scope) -> sqlite3.Row:
        row = connection.execute(
            "SELECT * FROM spaces WHERE enterprise_id = ? AND id = ?", (scope.enterprise_id, scope.space_id)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"No space {scope.space_id} in enterprise '{scope.enterprise_id}'.")
        return row

    def get_space(self, scope: Scope) -> Space:
        with self._db.read() as connection:
            return _space(self._space_row(connection, scope))

    def find_space(self, enterprise_id: str, name: str) -> Space | None:
        row = self._db.fetch_one("SELECT * FROM spaces WHERE enterprise_id = ? AND name = ?", (enterprise_id, name))
        return _space(row) if row else None

    def list_spaces(self, enterprise_id: str) -> list[Space]:
        rows = self._db.fetch_all("SELECT * FROM spaces WHERE enterprise_id = ? ORDER BY name", (enterprise_id,))
        return [_space(row) for row in rows]

    def list_enterprises(self) -> list[str]:
        rows = self._db.fetch_all("SELECT DISTINCT enterprise_id FROM spaces ORDER BY enterprise_id")
        return [row[0] for row in rows]

    def update_space(self, scope: Scope, edit: SpaceEdit) -> Space:
        changes = {key: value for key, value in vars(edit).items() if value is not None}
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)
            try:
                with self._db.write() as connection:
                    self._space_row(connection, scope)
                    connection.execute(
                        f"UPDATE spaces SET {assignments}, updated_at = ? WHERE enterprise_id = ? AND id = ?",
                        (*changes.values(), utc_now(), scope.enterprise_id, scope.space_id),
                    )
            except sqlite3.IntegrityError:
                raise self._name_taken(scope.enterprise_id, edit.name or "") from None
        return self.get_space(scope)

    def delete_space(self, scope: Scope) -> None:
        with self._db.write() as connection:
            file_name = self._space_row(connection, scope)["vector_file"]
            connection.execute(
                "DELETE FROM spaces WHERE enterprise_id = ? AND id = ?", (scope.enterprise_id, scope.space_id)
            )
        self._retire_vector_file(scope.enterprise_id, file_name)
        self._live_masks.pop(scope.space_id, None)
        remove_index_files(self._vector_dir / scope.enterprise_id, keep=set(), prefix=f"{scope.space_id}-")
        if self._approximate:
            self._approximate.forget(scope.space_id)

    def space_stats(self, scope: Scope) -> SpaceStats:
        with self._db.read() as connection:
            self._space_row(connection, scope)
            documents, size, last = connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0), MAX(updated_at) FROM documents "
                "WHERE enterprise_id = ? AND space_id = ?",
                (scope.enterprise_id, scope.space_id),
            ).fetchone()
            chunks = connection.execute(
                "SELECT COUNT(*) FROM chunks WHERE enterprise_id = ? AND space_id = ?",
                (scope.enterprise_id, scope.space_id),
            ).fetchone()[0]
        return SpaceStats(documents, chunks, size, datetime.fromisoformat(last) if last else None)

    # -- documents --------------------------------------------------------------------------------------------

    def find_document(self, scope: Scope, source: str) -> Document | None:
        row = self._db.fetch_one(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.enterprise_id = ? AND d.space_id = ? "
            "AND d.source = ?",
            (scope.enterprise_id, scope.space_id, source),
        )
        return _document(row) if row else None

    def get_document(self, scope: Scope, document_id: str) -> Document:
        row = self._db.fetch_one(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.enterprise_id = ? AND d.space_id = ? AND d.id = ?",
            (scope.enterprise_id, scope.space_id, document_id),
        )
        if row is None:
            raise NotFoundError(f"No document {document_id} in this space.")
        return _document(row)

    def list_documents(self, scope: Scope, search_filter: SearchFilter = SearchFilter()) -> list[Document]:
        conditions, params = _document_filter_sql(search_filter)
        rows = self._db.fetch_all(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.enterprise_id = ? AND d.space_id = ?{conditions} "
            "ORDER BY d.source",
            (scope.enterprise_id, scope.space_id, *params),
        )
        return [_document(row) for row in rows]

    def put_documents(self, scope: Scope, drafts: Sequence[DocumentDraft]) -> list[StoredDocument]:
        with self._db.write() as connection:
            space = self._space_row(connection, scope)
            vector_file = self._intact_vector_file(space)
            first_row = space["vector_count"]
            next_row = first_row
            written: list[tuple[str, Outcome, str | None]] = []
            new_vectors = []
            for draft in drafts:
                if draft.vectors.shape != (len(draft.chunks), space["dimension"]):
                    raise ValueError(f"{draft.source}: {len(draft.chunks)} chunks but vectors {draft.vectors.shape}")
                document_id, outcome, replaced_hash = self._write_document(connection, scope, draft)
                written.append((document_id, outcome, replaced_hash))
                if outcome is Outcome.UNCHANGED:
                    continue
                connection.executemany(
                    "INSERT INTO chunks (id, enterprise_id, space_id, document_id, ordinal, text, page, heading, "
                    "start_line, end_line, vector_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (f"{document_id}:{uuid.uuid4().hex[:8]}:{ordinal}", scope.enterprise_id, scope.space_id,
                         document_id, ordinal, chunk.text, chunk.location.page, chunk.location.heading,
                         chunk.location.start_line, chunk.location.end_line, next_row + ordinal)
                        for ordinal, chunk in enumerate(draft.chunks)
                    ],
                )
                next_row += len(draft.chunks)
                new_vectors.append(draft.vectors)
            if new_vectors:
                vector_file.append(np.concatenate(new_vectors), at_row=first_row)
            connection.execute(
                "UPDATE spaces SET vector_count = ?, generation = generation + 1, updated_at = ? "
                "WHERE enterprise_id = ? AND id = ?",
                (next_row, utc_now(), scope.enterprise_id, scope.space_id),
            )
            replaced_any = any(outcome is Outcome.REPLACED for _, outcome, _ in written)
            retired = self._compact_if_sparse(connection, scope) if replaced_any else None
        if retired:
            self._retire_vector_file(scope.enterprise_id, retired)
        return [
            StoredDocument(self.get_document(scope, document_id), outcome, replaced_hash)
            for document_id, outcome, replaced_hash in written
        ]

    def _write_document(
        self, connection: sqlite3.Connection, scope: Scope, draft: DocumentDraft
    ) -> tuple[str, Outcome, str | None]:
        """Insert or bump the document row for a draft and log the change; old chunks go, new ones follow."""
        existing = connection.execute(
            "SELECT id, content_hash, version FROM documents WHERE enterprise_id = ? AND space_id = ? AND source = ?",
            (scope.enterprise_id, scope.space_id, draft.source),
        ).fetchone()
        now = utc_now()
        tags = json.dumps(sorted(set(draft.tags)))
        metadata = json.dumps(dict(draft.metadata), sort_keys=True) if draft.metadata is not None else None
        if existing and existing["content_hash"] == draft.content_hash:
            return existing["id"], Outcome.UNCHANGED, None
        if existing:
            document_id, version, outcome = existing["id"], existing["version"] + 1, Outcome.REPLACED
            connection.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            connection.execute(
                "UPDATE documents SET title = ?, doc_type = ?, tags = ?, content_hash = ?, size_bytes = ?, "
                "version = ?, codebase = ?, updated_at = ?, metadata = COALESCE(?, metadata) WHERE id = ?",
                (draft.title, draft.doc_type, tags, draft.content_hash, draft.size_bytes, version, draft.codebase,
                 now, metadata, document_id),
            )
        else:
            document_id, outcome = new_document_id(scope.space_id, draft.source), Outcome.ADDED
            version = draft.version or 1
            connection.execute(
                "INSERT INTO documents (id, enterprise_id, space_id, source, title, doc_type, tags, content_hash, "
                "size_bytes, version, codebase, created_at, updated_at, metadata) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (document_id, scope.enterprise_id, scope.space_id, draft.source, draft.title, draft.doc_type, tags,
                 draft.content_hash, draft.size_bytes, version, draft.codebase, now, now, metadata or "{}"),
            )
        kind = ChangeKind.ADDED if outcome is Outcome.ADDED else ChangeKind.REPLACED
        self._log_change(connection, scope, document_id, draft.source, version, kind, draft.content_hash)
        return document_id, outcome, existing["content_hash"] if existing else None

    @staticmethod
    def _log_change(
        connection: sqlite3.Connection,
        scope: Scope,
        document_id: str,
        source: str,
        version: int,
        kind: ChangeKind,
        content_hash: str,
        changed_at: str | None = None,
    ) -> None:
        connection.execute(
            "INSERT INTO document_changes (enterprise_id, space_id, document_id, source, version, kind, content_hash, "
            "changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (scope.enterprise_id, scope.space_id, document_id, source, version, str(kind), content_hash,
             changed_at or utc_now()),
        )

    def write_history(self, scope: Scope, history: Sequence[DocumentChange]) -> None:
        """`KeepsHistory`: the space's change log replaced by `history`, in one transaction."""
        with self._db.write() as connection:
            self._space_row(connection, scope)
            ids = dict(connection.execute("SELECT source, id FROM documents WHERE enterprise_id = ? AND space_id = ?",
                                          (scope.enterprise_id, scope.space_id)).fetchall())
            connection.execute("DELETE FROM document_changes WHERE enterprise_id = ? AND space_id = ?",
                               (scope.enterprise_id, scope.space_id))
            for change in history:  # AUTOINCREMENT numbers them in this order
                document_id = ids.get(change.source) or new_document_id(scope.space_id, change.source)
                self._log_change(connection, scope, document_id, change.source, change.version, change.kind,
                                 change.content_hash, change.changed_at.isoformat())

    def delete_document(self, scope: Scope, document_id: str) -> Document:
        document = self.get_document(scope, document_id)
        with self._db.write() as connection:
            connection.execute(
                "DELETE FROM documents WHERE enterprise_id = ? AND space_id = ? AND id = ?",
                (scope.enterprise_id, scope.space_id, document_id),
            )
            self._log_change(
                connection, scope, document_id, document.source, document.version, ChangeKind.DELETED,
                document.content_hash,
            )
            connection.execute(
                "UPDATE spaces SET generation = generation + 1, updated_at = ? WHERE enterprise_id = ? AND id = ?",
                (utc_now(), scope.enterprise_id, scope.space_id),
            )
            retired = self._compact_if_sparse(connection, scope)
        if retired:
            self._retire_vector_file(scope.enterprise_id, retired)
        return document

    def _compact_if_sparse(self, connection: sqlite3.Connection, scope: Scope) -> str | None:
        """Rewrite the space's vectors without masked rows when those dominate; return the file to retire.

        The caller removes the old file only after committing, so a crash in between leaves it for the repair on open.
        """
        space = self._space_row(connection, scope)
        live_count = connection.execute(
            "SELECT COUNT(*) FROM chunks WHERE space_id = ? AND enterprise_id = ?", (scope.space_id, scope.enterprise_id)
        ).fetchone()[0]
        if space["vector_count"] - live_count < max(COMPACT_MIN_DEAD_ROWS, live_count):
            return None
        live = connection.execute(
            "SELECT row_key, vector_row FROM chunks WHERE space_id = ? AND enterprise_id = ? ORDER BY vector_row",
            (scope.space_id, scope.enterprise_id),
        ).fetchall()
        old = self._intact_vector_file(space)
        rows = np.fromiter((row["vector_row"] for row in live), dtype=np.int64, count=len(live))
        vectors = np.asarray(old.matrix(space["vector_count"])[rows])
        file_name = self._rewrite_vectors(connection, scope, [row["row_key"] for row in live], vectors)
        connection.execute(
            "UPDATE spaces SET vector_file = ?, vector_count = ?, generation = generation + 1 "
            "WHERE enterprise_id = ? AND id = ?",
            (file_name, len(live), scope.enterprise_id, scope.space_id),
        )
        return space["vector_file"]

    def list_chunks(self, scope: Scope, document_id: str | None = None) -> list[Chunk]:
        query = f"SELECT {_CHUNK_COLUMNS} FROM chunks c WHERE c.enterprise_id = ? AND c.space_id = ?"
        params: list = [scope.enterprise_id, scope.space_id]
        if document_id is not None:
            query += " AND c.document_id = ?"
            params.append(document_id)
        rows = self._db.fetch_all(query + " ORDER BY c.document_id, c.ordinal", params)
        return [_chunk(row) for row in rows]

    def list_chunk_vectors(self, scope: Scope, document_id: str | None = None) -> tuple[list[Chunk], np.ndarray]:
        query = f"SELECT c.vector_row, {_CHUNK_COLUMNS} FROM chunks c WHERE c.enterprise_id = ? AND c.space_id = ?"
        params: list = [scope.enterprise_id, scope.space_id]
        if document_id is not None:
            query += " AND c.document_id = ?"
            params.append(document_id)
        with self._db.read() as connection:
            space = self._space_row(connection, scope)
            rows = [tuple(row) for row in connection.execute(query + " ORDER BY c.document_id, c.ordinal", params)]
            matrix = self._intact_vector_file(space).matrix(space["vector_count"])
            vectors = np.array(matrix[np.asarray([row[0] for row in rows], dtype=np.int64)], dtype=np.float32)
        return [_chunk(row[1:]) for row in rows], vectors.reshape(len(rows), space["dimension"])

    def changes(self, scope: Scope, after_sequence: int = 0) -> list[DocumentChange]:
        rows = self._db.fetch_all(
            "SELECT * FROM document_changes WHERE enterprise_id = ? AND space_id = ? AND sequence > ? "
            "ORDER BY sequence",
            (scope.enterprise_id, scope.space_id, after_sequence),
        )
        return [
            DocumentChange(
                sequence=row["sequence"],
                enterprise_id=row["enterprise_id"],
                space_id=row["space_id"],
                document_id=row["document_id"],
                source=row["source"],
                version=row["version"],
                kind=ChangeKind(row["kind"]),
                content_hash=row["content_hash"],
                changed_at=datetime.fromisoformat(row["changed_at"]),
            )
            for row in rows
        ]

    def replace_vectors(self, scope: Scope, embedder_id: str, vectors: np.ndarray, chunk_ids: Sequence[str]) -> None:
        with self._db.write() as connection:
            old_file = self._space_row(connection, scope)["vector_file"]
            keys = dict(
                connection.execute(
                    "SELECT id, row_key FROM chunks WHERE enterprise_id = ? AND space_id = ?",
                    (scope.enterprise_id, scope.space_id),
                ).fetchall()
            )
            if set(keys) != set(chunk_ids) or len(chunk_ids) != vectors.shape[0]:
                raise LMSpaceError("The space changed while it was being re-embedded; run the re-embed again.")
            file_name = self._rewrite_vectors(connection, scope, [keys[chunk_id] for chunk_id in chunk_ids], vectors)
            connection.execute(
                "UPDATE spaces SET embedder_id = ?, dimension = ?, vector_file = ?, vector_count = ?, "
                "generation = generation + 1, updated_at = ? WHERE enterprise_id = ? AND id = ?",
                (embedder_id, vectors.shape[1], file_name, len(chunk_ids), utc_now(), scope.enterprise_id,
                 scope.space_id),
            )
        self._retire_vector_file(scope.enterprise_id, old_file)

    # -- search -----------------------------------------------------------------------------------------------

    def search(self, scope: Scope, query: np.ndarray, k: int, search_filter: SearchFilter = SearchFilter()) -> list[Hit]:
        with self._db.read() as connection:
            space = self._searchable_space(connection, scope, query)
            matrix = self._intact_vector_file(space).matrix(space["vector_count"])
            return self._hits(connection, scope, self._ranked_rows(connection, scope, space, matrix, query, k,
                                                                   search_filter))

    def hybrid_search(
        self, scope: Scope, query: np.ndarray, text: str, k: int, search_filter: SearchFilter = SearchFilter()
    ) -> list[Hit]:
        """The vector ranking and a keyword ranking (FTS5, BM25) of `text`, fused by reciprocal rank.

        Hits come in fused order and carry their cosine similarity, like `search`'s.
        """
        with self._db.read() as connection:
            space = self._searchable_space(connection, scope, query)
            matrix = self._intact_vector_file(space).matrix(space["vector_count"])
            by_vector = self._ranked_rows(connection, scope, space, matrix, query, HYBRID_DEPTH, search_filter)
            by_keyword = self._keyword_rows(connection, scope, text, HYBRID_DEPTH, search_filter)
            rows = reciprocal_rank_fusion([[row for row, _ in by_vector], by_keyword])[:k]
            scores = matrix[rows] @ np.asarray(query, dtype=matrix.dtype) if rows else []
            return self._hits(connection, scope, [(row, float(score)) for row, score in zip(rows, scores, strict=True)])

    def _searchable_space(self, connection: sqlite3.Connection, scope: Scope, query: np.ndarray) -> sqlite3.Row:
        space = self._space_row(connection, scope)
        if query.shape != (space["dimension"],):
            raise LMSpaceError(
                f"The query vector has shape {query.shape}; this space holds {space['dimension']}-d vectors."
            )
        return space

    def _ranked_rows(
        self,
        connection: sqlite3.Connection,
        scope: Scope,
        space: sqlite3.Row,
        matrix: np.ndarray,
        query: np.ndarray,
        k: int,
        search_filter: SearchFilter,
    ) -> list[tuple[int, float]]:
        """The best `k` vector rows that belong to a chunk passing the filter, as (row, cosine)."""
        if search_filter.is_empty:
            # Rank every row first: a space has no masked rows unless documents were replaced or deleted since its
            # last compaction, so this is usually the answer, and no chunk row is read but those of the hits. An
            # approximate index answers instead when one is ready for the space as it is now; a filtered query
            # never uses it (a graph walk restricted to a few allowed rows loses the recall that was measured
            # without a filter), and neither does one whose hits include masked rows: the exact scans below do.
            ranked = self._approximate_top_k(space, query, k)
            if ranked is None:
                ranked = top_k(matrix, query, k)
            if self._count_chunks_at(connection, scope, [row for row, _ in ranked]) == len(ranked):
                return ranked
            allowed = self._live_rows(connection, scope, space)
        else:
            allowed = self._filtered_rows(connection, scope, search_filter, space["vector_count"])
        return top_k(matrix, query, k, allowed)

    def _approximate_top_k(self, space: sqlite3.Row, query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
        if self._approximate is None:
            return None
        return self._approximate.top_k(self._vector_dir / space["enterprise_id"], _index_key(space), query, k)

    # -- approximate index --------------------------------------------------------------------------------------

    def search_plan(self, scope: Scope) -> SearchPlan:
        """Which ranking answers the space's unfiltered searches now (exact, or its approximate index), and why."""
        with self._db.read() as connection:
            space = self._space_row(connection, scope)
        if self._approximate is None:
            return SearchPlan(False, "approximate indexes are off (retrieval.approximate.enabled: false)")
        return self._approximate.plan(self._vector_dir / scope.enterprise_id, _index_key(space))

    def build_approximate_index(
        self, scope: Scope, progress: ProgressCallback, cancel: threading.Event
    ) -> SearchPlan | None:
        """Build, measure and save the space's HNSW index for its current state, and return the plan it leads to
        (approximate, or exact when the index was refused); None if cancelled or not due.

        The space's vectors are read from its memory map as committed when the build starts; if the space changes
        meanwhile, the index is saved under the old state's key and never answers (the next build replaces it).
        """
        with self._db.read() as connection:
            space = self._space_row(connection, scope)
            matrix = self._intact_vector_file(space).matrix(space["vector_count"])
        if self._approximate is None or not self._approximate.plan(self._vector_dir / scope.enterprise_id,
                                                                   _index_key(space)).due:
            return None

        def report(done: int, total: int) -> None:
            progress(Progress("index", done, total, message="building the approximate index"))

        folder = self._vector_dir / scope.enterprise_id
        if self._approximate.build(folder, _index_key(space), matrix, report, cancel) is None:
            return None
        return self._approximate.plan(folder, _index_key(space))

    @staticmethod
    def _count_chunks_at(connection: sqlite3.Connection, scope: Scope, rows: list[int]) -> int:
        if not rows:
            return 0
        return connection.execute(
            f"SELECT COUNT(*) FROM chunks WHERE space_id = ? AND vector_row IN ({','.join('?' * len(rows))})",
            (scope.space_id, *rows),
        ).fetchone()[0]

    @staticmethod
    def _keyword_rows(
        connection: sqlite3.Connection, scope: Scope, text: str, k: int, search_filter: SearchFilter
    ) -> list[int]:
        """Vector rows of the `k` chunks whose text best matches any word of `text` (BM25), filter applied."""
        words = re.findall(r"\w+", text.lower())
        if not words:
            return []
        conditions, params = _document_filter_sql(search_filter)
        rows = connection.execute(
            "SELECT c.vector_row FROM chunks_fts JOIN chunks c ON c.row_key = chunks_fts.rowid "
            "JOIN documents d ON d.id = c.document_id "
            f"WHERE chunks_fts MATCH ? AND c.space_id = ? AND d.enterprise_id = ?{conditions} "
            "ORDER BY bm25(chunks_fts) LIMIT ?",
            (" OR ".join(f'"{word}"' for word in dict.fromkeys(words)), scope.space_id, scope.enterprise_id, *params,
             k),
        ).fetchall()
        return [row[0] for row in rows]

    def _live_rows(self, connection: sqlite3.Connection, scope: Scope, space: sqlite3.Row) -> np.ndarray:
        """Which vector rows still belong to a chunk, cached until the space changes.

        Reads only the (space, vector_row) index, not the chunk rows: space ids are unique across enterprises and
        the caller already checked the space's enterprise.
        """
        cached = self._live_masks.get(scope.space_id)
        if cached is not None and cached[0] == space["generation"]:
            return cached[1]
        rows = connection.execute("SELECT vector_row FROM chunks WHERE space_id = ?", (scope.space_id,)).fetchall()
        live = np.zeros(space["vector_count"], dtype=bool)
        live[np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))] = True
        self._live_masks[scope.space_id] = (space["generation"], live)
        return live

    @staticmethod
    def _filtered_rows(connection: sqlite3.Connection, scope: Scope, search_filter: SearchFilter, count: int) -> np.ndarray:
        """The vector rows of the chunks whose documents pass the filter (resolved in SQL on the documents)."""
        conditions, params = _document_filter_sql(search_filter)
        rows = connection.execute(
            f"SELECT c.vector_row FROM documents d JOIN chunks c ON c.document_id = d.id "
            f"WHERE d.enterprise_id = ? AND d.space_id = ?{conditions}",
            (scope.enterprise_id, scope.space_id, *params),
        ).fetchall()
        allowed = np.zeros(count, dtype=bool)
        allowed[np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))] = True
        return allowed

    @staticmethod
    def _hits(connection: sqlite3.Connection, scope: Scope, ranked: list[tuple[int, float]]) -> list[Hit]:
        """The chunks at the ranked vector rows, in rank order; rows whose chunk is gone (masked) are left out."""
        if not ranked:
            return []
        placeholders = ",".join("?" * len(ranked))
        rows = connection.execute(
            f"SELECT c.vector_row, {_CHUNK_COLUMNS}, {_DOCUMENT_COLUMNS} FROM chunks c "
            f"JOIN documents d ON d.id = c.document_id WHERE c.space_id = ? AND c.vector_row IN ({placeholders})",
            [scope.space_id, *(row for row, _ in ranked)],
        ).fetchall()
        by_row = {row[0]: row for row in rows}
        chunk_width = _CHUNK_COLUMNS.count(",") + 1
        return [
            Hit(chunk=_chunk(row[1 : 1 + chunk_width]), document=_document(row[1 + chunk_width :]), score=score)
            for vector_row, score in ranked
            if (row := by_row.get(vector_row)) is not None
        ]
