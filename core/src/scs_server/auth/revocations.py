"""The per-call revocation check, with concurrent checks sharing one read.

Every authenticated call asks whether its token was revoked, a point read that on
PostgreSQL is a round trip and a few hundred µs of CPU through the driver. While one
such read is on its way, the calls that arrive wait for the next read instead of
starting their own, and that read answers all of them (up to REVOKED_AMONG_MAX a read).
Nothing is cached: every answer comes from a read sent after the call asked, so a
revocation committed anywhere (another replica included) before a call arrives is
seen by that call, exactly as with one read per call. A lone call reads at once.

On PostgreSQL a replica holding a revocation lease answers from memory instead
(``scs_server.auth.revocation_lease``: no read at all); without one, an HTTP request's
check may start as the request arrives, before the MCP layers parse it
(``scs_server.auth.early_check``): its round trip then overlaps them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from scs_server.auth import store

if TYPE_CHECKING:
    from scs_server.auth.revocation_lease import RevocationLease
    from scs_server.storage import Database


class RevocationChecks:
    """``is_revoked(jti)`` for each call; concurrent calls share a read (module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reads = 0  # statements sent
        self.checks = 0  # calls answered by them
        self.started_early = 0  # checks begun as their HTTP request arrived
        self._reading = False
        self._waiting: list[tuple[str, asyncio.Future[bool]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.lease: RevocationLease | None = None  # PostgreSQL, once started

    async def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` is refused: from the lease's memory while it holds, else read
        after this call asked."""
        if self.lease is not None and (known := self.lease.answer(jti)) is not None:
            return known
        if self._reading:  # a read is on its way: join the next one
            answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._waiting.append((jti, answer))
            return await answer  # cancelling one waiter leaves the others theirs
        self._reading = True
        try:
            self.checks += 1
            return jti in await self._read([jti])
        finally:
            self._next()

    def stats(self) -> dict[str, object]:
        """Checks, reads and the lease (for get_performance_metrics and /metrics)."""
        lease = self.lease
        return {
            "revocation_checks": self.checks + (lease.answered if lease else 0),
            "revocation_reads": self.reads,
            "revocation_answered_from_memory": lease.answered if lease else 0,
            "revocation_lease_trusted": lease is not None and lease.trusted(),
        }

    def start(self, jti: str) -> asyncio.Task[bool]:
        """Begin the check of ``jti`` now (``is_revoked`` in a task); await it later."""
        self.started_early += 1
        task = asyncio.get_running_loop().create_task(self.is_revoked(jti))
        task.add_done_callback(_retrieved)  # nobody may await it (not a tool call)
        return task

    async def _read(self, jtis: list[str]) -> set[str]:
        self.reads += 1
        return await store.revoked_among(self.db, jtis)

    def _next(self) -> None:
        """The read that has ended hands over to the calls that queued behind it."""
        if not self._waiting:
            self._reading = False
            return
        batch = self._waiting[: store.REVOKED_AMONG_MAX]
        del self._waiting[: store.REVOKED_AMONG_MAX]
        task = asyncio.get_running_loop().create_task(self._answer(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, batch: list[tuple[str, asyncio.Future[bool]]]) -> None:
        self.checks += len(batch)  # one token id is read once however many calls ask
        try:
            revoked = await self._read(sorted({jti for jti, _ in batch}))
        except Exception as error:  # DATABASE_UNAVAILABLE...: every waiter gets it
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
        except BaseException:  # cancelled (shutdown): so are the waiters
            for _, answer in batch:
                answer.cancel()
            raise
        else:
            for jti, answer in batch:
                if not answer.done():
                    answer.set_result(jti in revoked)
        finally:
            self._next()


def _retrieved(task: asyncio.Task[bool]) -> None:
    """Mark an early check's outcome as seen, so an unclaimed failure is not logged."""
    if not task.cancelled():
        task.exception()
