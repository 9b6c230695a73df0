"""The periodic sweep that deletes expired entries.

Reads never depend on it (they ignore expired rows themselves); it only keeps
the table small. Each batch is its own transaction (``heavy``: on SQLite it runs
in a worker thread, not on the event loop), so a request waits at most one small
batch for the write lock; each batch that deletes rows emits one ``memory`` change
with ``agent_id`` None.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scs_server.events import MEMORY_EXPIRED
from scs_server.periodic import Periodic
from scs_server.timestamps import utc_now

from scs_memory import store

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.storage import Transaction

    from scs_memory.settings import MemorySettings

log = logging.getLogger("scs.memory.sweep")


@dataclass
class Sweeper:
    """Runs ``sweep_once`` every ``sweep_interval_s`` seconds until stopped (``Periodic``)."""

    app: App
    settings: MemorySettings
    deleted: int = 0
    runs: int = 0
    _job: Periodic | None = field(default=None, repr=False)

    async def sweep_once(self) -> int:
        """Delete expired rows in batches (bounded per run); return how many."""
        total = 0
        batch = self.settings.sweep_batch_size
        for _ in range(self.settings.sweep_max_batches):
            async with self.app.db.transaction(heavy=True) as tx:
                removed = await store.delete_expired(tx, utc_now(), batch)
                if removed:
                    self._announce(tx, removed)
            total += removed
            self.deleted += removed
            if removed < batch:
                break
            await asyncio.sleep(0)  # let waiting requests take the write lock
        self.runs += 1
        return total

    def start(self) -> None:
        if self._job is None:
            self._job = Periodic("scs-memory-sweep", self.settings.sweep_interval_s, self._sweep)
        self._job.start()

    async def stop(self) -> None:
        if self._job is not None:
            await self._job.stop()

    async def _sweep(self) -> None:
        removed = await self.sweep_once()
        if removed:
            log.debug("memory sweep deleted %d expired entries", removed)

    def _announce(self, tx: Transaction, removed: int) -> None:
        self.app.announce(tx, MEMORY_EXPIRED, "memory", count=removed, session_id=None)
