"""The periodic sweep that deletes expired leases and tells ``lease.expired``.

Grants never depend on it (they ignore expired rows themselves); it keeps the table
small and announces expiries. Each batch is its own ``heavy`` transaction (on SQLite in
a worker thread, not on the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_leases.service import LeaseService

log = logging.getLogger("scs.leases.sweep")


@dataclass
class Sweeper:
    service: LeaseService
    interval_s: float
    expired: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.expired += await self.service.sweep_once()
            except Exception:  # a busy or failing sweep is retried at the next interval
                log.warning("lease sweep failed; retrying in %ss", self.interval_s, exc_info=True)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="scs-leases-sweep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
