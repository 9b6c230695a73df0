"""Schema steps of the sessions plugin."""

from __future__ import annotations

from scs import Migration

MIGRATIONS = [
    Migration(
        1,
        "sessions table",
        """
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
        """,
    ),
]
