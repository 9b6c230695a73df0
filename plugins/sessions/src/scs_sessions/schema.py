"""Schema steps of the sessions plugin (SQLite and PostgreSQL)."""

from __future__ import annotations

from scs_server import Migration

_SESSIONS_TABLE = """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        purpose TEXT NOT NULL,
        metadata TEXT,
        created_by TEXT NOT NULL,
        created_by_type TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        closed_at TEXT
    );
    CREATE INDEX sessions_created ON sessions (created_at, id);
"""

MIGRATIONS = [
    Migration(
        1,
        "sessions table",
        _SESSIONS_TABLE,
        # the same table; id prefixes (completions) are byte ranges in the "C"
        # collation whatever the database's locale, so they get an index of their own
        postgresql=_SESSIONS_TABLE + 'CREATE INDEX sessions_id_bytes ON sessions (id COLLATE "C");',
    ),
    Migration(
        2,
        "prefix the table with the plugin's name",
        # in place, rows and indexes kept; the references of other plugins' tables
        # (messages, memory entries) follow the table on both engines
        "ALTER TABLE sessions RENAME TO sessions_sessions",
    ),
]
