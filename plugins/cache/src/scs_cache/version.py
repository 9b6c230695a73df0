"""Has anyone written to the database since we last looked? (SQLite-only, kept here.)

``PRAGMA data_version`` changes when another connection (of this process or another
one) has committed to the file. It is read on a dedicated connection that never writes,
so every commit anywhere shows up. The check starts a read transaction on the WAL
index: a few microseconds, cheap enough to run before every cached answer.

On another database engine this would be replaced by its own signal (e.g. PostgreSQL
LISTEN/NOTIFY or a change counter); the cache only needs ``changed()``.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class DataVersion:
    """The database's change marker, seen from one private read-only-in-practice connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        # busy_timeout 0: never block the event loop; a locked file counts as "changed".
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=0")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def read(self) -> int | None:
        """The current marker, or None when it cannot be read (treat as a change)."""
        if self._conn is None:
            return None
        try:
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0])
