"""The periodic sweep that deletes expired entries.

Reads never depend on it (they ignore expired rows themselves); it only keeps
the table small. Each batch is its own transaction (``heavy``: on SQLite it runs
in a worker thread, not on the event loop), so a request waits at most one small
batch for the write lock; each batch that deletes rows emits one ``memory`` change
with ``agent_id`` None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scs.timestamps import utc_now

from scs_memory import store

if TYPE_CHECKING:
    from scs.storage import Database

    from scs_memory.settings import MemorySettings

log = logging.getLogger("scs.memory.sweep")


@dataclass
class Sweeper:
    """Runs ``sweep_once`` every ``sweep_interval_s`` seconds until stopped."""

    db: Database
    settings: MemorySettings
    deleted: int = 0
    runs: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def sweep_once(self) -> int:
        """Delete expired rows in batches (bounded per run); return how many."""
        total = 0
        batch = self.settings.sweep_batch_size
        for _ in range(self.settings.sweep_max_batches):
            removed = await store.delete_expired(self.db, utc_now(), batch)
            total += removed
            self.deleted += removed
            if removed < batch:
                break
            await asyncio.sleep(0)  # let waiting requests take the write lock
        self.runs += 1
        return total

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                removed = await self.sweep_once()
            except Exception:  # a busy or failing sweep is retried at the next interval
                log.warning(
                    "memory sweep failed; retrying in %ss",
                    self.settings.sweep_interval_s,
                    exc_info=True,
                )
            else:
                if removed:
                    log.debug("memory sweep deleted %d expired entries", removed)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="scs-memory-sweep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
