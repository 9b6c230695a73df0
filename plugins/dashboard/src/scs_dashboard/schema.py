"""Schema steps of the dashboard plugin (SQLite and PostgreSQL)."""

from __future__ import annotations

from scs_server import Migration

MIGRATIONS = [
    Migration(
        1,
        "dashboard login sessions",
        """
        CREATE TABLE dashboard_sessions (
            id_hash TEXT PRIMARY KEY,
            csrf TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            agent_type TEXT NOT NULL,
            permissions TEXT NOT NULL,
            credential TEXT,
            token_id TEXT,
            created_at TEXT NOT NULL,
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
        """,
    ),
    Migration(
        2,
        "dashboard read marks",
        """
        CREATE TABLE dashboard_reads (
            agent_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            last_id BIGINT NOT NULL,
            PRIMARY KEY (agent_id, session_id)
        );
        """,
    ),
    Migration(
        3,
        "read marks move to the inbox plugin's read cursors",
        "DROP TABLE IF EXISTS dashboard_reads;",
    ),
]
