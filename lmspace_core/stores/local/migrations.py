"""Numbered schema migrations for the embedded SQLite database, applied in order and recorded in `user_version`.

Append new migrations; never edit one that has shipped, since existing data directories already ran it.
"""

from __future__ import annotations

import sqlite3

from lmspace_core.errors import LMSpaceError

MIGRATIONS: tuple[str, ...] = (
    # 1: spaces, versioned documents, chunks with their vector rows, and the change log that sync reads.
    """
    CREATE TABLE spaces (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        instructions TEXT NOT NULL DEFAULT '',
        embedder_id TEXT NOT NULL,
        dimension INTEGER NOT NULL,
        vector_file TEXT NOT NULL,
        vector_count INTEGER NOT NULL DEFAULT 0,
        generation INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (enterprise_id, name),
        UNIQUE (enterprise_id, id)
    );
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        source TEXT NOT NULL,
        title TEXT NOT NULL,
        doc_type TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        content_hash TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        version INTEGER NOT NULL,
        codebase TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (space_id, source),
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    CREATE INDEX documents_by_hash ON documents (space_id, content_hash);
    CREATE TABLE chunks (
        row_key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        text TEXT NOT NULL,
        page INTEGER,
        heading TEXT,
        start_line INTEGER,
        end_line INTEGER,
        vector_row INTEGER NOT NULL
    );
    CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);
    CREATE UNIQUE INDEX chunks_by_vector_row ON chunks (space_id, vector_row);
    CREATE TABLE document_changes (
        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        source TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    CREATE INDEX document_changes_by_space ON document_changes (space_id, sequence);
    """,
    # 2: long-running work (ingest, research, sync) as jobs with progress and an event log the UI polls.
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        message TEXT NOT NULL DEFAULT '',
        result TEXT,
        error TEXT NOT NULL DEFAULT '',
        owner TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_by_space ON jobs (enterprise_id, space_id, created_at);
    CREATE TABLE job_events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        at TEXT NOT NULL,
        stage TEXT NOT NULL,
        done INTEGER NOT NULL,
        total INTEGER,
        item TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (job_id, sequence)
    );
    """,
    # 3: LLM sync: datasets with their examples and lineage, sync jobs with events and metrics, model versions.
    """
    CREATE TABLE sync_datasets (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        system TEXT NOT NULL,
        base_sequence INTEGER NOT NULL,
        through_sequence INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    CREATE TABLE sync_examples (
        dataset_id TEXT NOT NULL REFERENCES sync_datasets (id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        split TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        passage TEXT NOT NULL,
        document_id TEXT NOT NULL,
        source TEXT NOT NULL,
        origin TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, ordinal)
    );
    CREATE TABLE sync_lineage (
        dataset_id TEXT NOT NULL REFERENCES sync_datasets (id) ON DELETE CASCADE,
        document_id TEXT NOT NULL,
        source TEXT NOT NULL,
        version INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        change TEXT NOT NULL,
        PRIMARY KEY (dataset_id, document_id)
    );
    CREATE TABLE sync_jobs (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        backend TEXT NOT NULL,
        status TEXT NOT NULL,
        dataset_id TEXT REFERENCES sync_datasets (id) ON DELETE SET NULL,
        remote_id TEXT,
        model_id TEXT,
        model_version_id TEXT,
        score_before REAL,
        score_after REAL,
        message TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        owner TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    CREATE INDEX sync_jobs_by_space ON sync_jobs (enterprise_id, space_id, created_at);
    CREATE TABLE sync_events (
        job_id TEXT NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        at TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (job_id, sequence)
    );
    CREATE TABLE sync_metrics (
        job_id TEXT NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        train_loss REAL,
        validation_loss REAL,
        accuracy REAL,
        PRIMARY KEY (job_id, step)
    );
    CREATE TABLE sync_models (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        job_id TEXT,
        dataset_id TEXT,
        backend TEXT NOT NULL,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        score_before REAL,
        score_after REAL,
        active INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    CREATE INDEX sync_models_by_space ON sync_models (enterprise_id, space_id, created_at);
    """,
    # 4: a space's examples (question/answer pairs written or accepted by its users) that prompt optimisation uses.
    """
    CREATE TABLE space_examples (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (space_id, question),
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    """,
    # 5: knowledge entities carry metadata (type, tags, timestamps, any JSON), filterable in search.
    """
    ALTER TABLE documents ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
    """,
    # 6: a space's research examples (a task and the plan that answers it) that optimising the research planner uses.
    """
    CREATE TABLE plan_examples (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        task TEXT NOT NULL,
        plan TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (space_id, task),
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    """,
    # 7: a keyword index over chunk texts for hybrid retrieval, kept in step with `chunks` by triggers (which also
    # fire for chunks removed by a cascade from their document or space).
    """
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, content = 'chunks', content_rowid = 'row_key', tokenize = 'porter unicode61'
    );
    CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts (rowid, text) VALUES (new.row_key, new.text);
    END;
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.row_key, old.text);
    END;
    CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.row_key, old.text);
        INSERT INTO chunks_fts (rowid, text) VALUES (new.row_key, new.text);
    END;
    INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');
    """,
    # 8: chat conversations per space, their answers in order (JSON with citations). No foreign key to `spaces`:
    # on the Azure backend the spaces live in Cosmos DB and this table still keeps the dashboard's conversations;
    # on the embedded one a trigger deletes a deleted space's conversations.
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX conversations_by_space ON conversations (enterprise_id, space_id, updated_at);
    CREATE TABLE conversation_answers (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        answer TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (conversation_id, position)
    );
    CREATE TRIGGER conversations_of_a_deleted_space AFTER DELETE ON spaces BEGIN
        DELETE FROM conversations WHERE enterprise_id = old.enterprise_id AND space_id = old.id;
    END;
    """,
    # 9: space names unique per enterprise ignoring case, held by the database: two processes creating "Docs" and
    # "docs" at once cannot both succeed (a check before the insert cannot see the other's insert). Spaces that
    # already clashed keep their names: all but the oldest of each clash carry their own id in `name_clash`, which
    # keeps them apart in the index until they are renamed (renaming clears it, so the new name is checked).
    """
    ALTER TABLE spaces ADD COLUMN name_clash TEXT NOT NULL DEFAULT '';
    UPDATE spaces SET name_clash = id WHERE EXISTS (
        SELECT 1 FROM spaces AS older
        WHERE older.enterprise_id = spaces.enterprise_id AND older.name = spaces.name COLLATE NOCASE
          AND (older.created_at < spaces.created_at OR (older.created_at = spaces.created_at AND older.id < spaces.id))
    );
    CREATE UNIQUE INDEX spaces_name_ignoring_case ON spaces (enterprise_id, name COLLATE NOCASE, name_clash);
    CREATE TRIGGER spaces_renamed_out_of_a_clash AFTER UPDATE OF name ON spaces WHEN new.name_clash != '' BEGIN
        UPDATE spaces SET name_clash = '' WHERE id = new.id;
    END;
    """,
    # 10: a remote model version remembers the deployment that serves it (or is to serve it), so a model event that
    # names the deployment finds the version and its held-out questions.
    """
    ALTER TABLE sync_models ADD COLUMN deployment TEXT;
    """,
    # 11: a space's automatic sync state (the request queued or running for it, the hold a failed attempt left),
    # written only over the version it was read at, so two processes never queue the same space twice.
    """
    CREATE TABLE sync_auto (
        enterprise_id TEXT NOT NULL,
        space_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (enterprise_id, space_id),
        FOREIGN KEY (enterprise_id, space_id) REFERENCES spaces (enterprise_id, id) ON DELETE CASCADE
    );
    """,
    # 12: how far a sync job's training is (steps done of all its steps), for the progress the page and `--follow`
    # show; kept on the job row, since a row per step would be an event per step.
    """
    ALTER TABLE sync_jobs ADD COLUMN steps_done INTEGER;
    ALTER TABLE sync_jobs ADD COLUMN steps_total INTEGER;
    """,
)


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the database to the newest schema; return the version it is at now.

    `connection` must be in autocommit mode. The version is read again under the write lock: processes opening a
    fresh data directory together would otherwise all see version 0 and all run the first migration.
    """
    if _version(connection) == len(MIGRATIONS):
        return len(MIGRATIONS)
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = _version(connection)
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            connection.executescript(f"{script}\nPRAGMA user_version = {number};")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return len(MIGRATIONS)


def _version(connection: sqlite3.Connection) -> int:
    current = connection.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise LMSpaceError(
            f"This data directory was written by a newer LMSpace (schema {current}, this one knows "
            f"{len(MIGRATIONS)}); upgrade LMSpace to open it."
        )
    return current
