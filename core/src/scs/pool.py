"""A small pool of aiosqlite connections for reads.

Why not aiosqlitepool: it checks every connection out with ``SELECT 1`` and in with
``ROLLBACK``, two round trips to the connection's thread per read. A connection to a
local SQLite file does not drop, and an autocommit read leaves no transaction open, so
here check-out and check-in cost nothing (a rollback only if a transaction was left
open). bench/load.py measured ~0.5 ms less per tool call (single agent) from this alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import aiosqlite

log = logging.getLogger("scs.db")


class PoolTimeoutError(Exception):
    """No connection became free within the acquisition timeout."""


class ConnectionPool:
    """At most ``size`` connections, opened on demand, lent one caller at a time."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[aiosqlite.Connection]],
        size: int,
        acquire_timeout_s: float,
    ) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[aiosqlite.Connection] = []
        self._timeout = acquire_timeout_s
        self._closed = False

    async def acquire(self) -> aiosqlite.Connection:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        if self._slots.locked():  # only a caller that must wait pays for the timeout task
            try:
                await asyncio.wait_for(self._slots.acquire(), self._timeout)
            except TimeoutError:
                raise PoolTimeoutError(
                    f"no database connection free within {self._timeout} s"
                ) from None
        else:
            await self._slots.acquire()
        if self._idle:
            return self._idle.pop()
        try:
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    async def release(self, conn: aiosqlite.Connection) -> None:
        try:
            if conn.in_transaction:  # a caller left one open: never lend it on like that
                await conn.rollback()
        except Exception:
            log.warning("dropping a connection that could not roll back", exc_info=True)
            with contextlib.suppress(Exception):
                await conn.close()
        else:
            if self._closed:
                with contextlib.suppress(Exception):
                    await conn.close()
            else:
                self._idle.append(conn)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close the idle connections; connections still lent are closed on release."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()
