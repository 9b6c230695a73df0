"""``/health`` stays answerable under abusive load (security finding 3).

A liveness probe that borrows from the reader pool queues behind every search and
page in flight: with the pool exhausted it would wait for a connection and then say
"unreachable". Nothing here is timed: the pool is held, not raced.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import httpx2
import pytest
from scs_server.errors import ScsError

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory


def root(server: ScsServer) -> str:
    assert server.url
    return server.url.removesuffix("/mcp")


async def test_health_answers_while_every_reader_connection_is_held(
    scs_factory: ServerFactory,
) -> None:
    server = await scs_factory("sessions", http=True, db_pool_size=2, db_acquire_timeout_s=1)
    db = server.app.db
    async with contextlib.AsyncExitStack() as held, httpx2.AsyncClient(timeout=30) as http:
        for _ in range(2):
            await held.enter_async_context(db.read())
        with pytest.raises(ScsError) as caught:  # the pool really is exhausted
            async with db.read():
                pass
        assert caught.value.code in {"DATABASE_BUSY", "DATABASE_UNAVAILABLE"}
        response = await http.get(root(server) + "/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    async with httpx2.AsyncClient(timeout=30) as http:  # and after the readers are back
        assert (await http.get(root(server) + "/health")).json()["status"] == "ok"
