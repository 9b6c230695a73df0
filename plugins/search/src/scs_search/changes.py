"""Has anything been committed to the database file since we last looked? (SQLite-only.)

``PRAGMA data_version`` changes whenever another connection, of this process or of
another one, commits to the file. It is read on a private connection that never
writes, so every commit anywhere shows. Unchanged means every index synced after
the previous reading is still exact, and the per-session check can be skipped.
Another database engine would replace this with its own change signal, or with
``None`` (then every search runs the per-session check).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class ChangeMarker:
    """The database's commit marker, seen from one private connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def read(self) -> int | None:
        """The current marker, or None when it cannot be read (treat as changed)."""
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA busy_timeout=0")  # never block the event loop
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
