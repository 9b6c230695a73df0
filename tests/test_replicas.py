"""Two servers on one database act as one: what one writes or revokes, the other honours.

On SQLite these are two processes' worth of servers on one file; on PostgreSQL, two
replicas on one database (the deployment docs describe: README "Scale out").
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.testing import Agent, ServerFactory

FEED_DEADLINE_S = 5.0  # the change feed's latency is milliseconds; this only bounds the poll


async def eventually(probe: Any, want: Any) -> Any:
    """Call ``probe`` until it returns ``want`` or the deadline passes; return the last."""
    deadline = time.monotonic() + FEED_DEADLINE_S
    got = await probe()
    while got != want and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        got = await probe()
    return got


async def test_a_token_minted_on_one_replica_works_on_the_other_until_revoked(
    scs_factory: ServerFactory,
) -> None:
    a = await scs_factory(http=True)
    b = await scs_factory(http=True, same_database_as=a)
    alice_on_a = await a.agent("alice")
    alice_on_b = await b.agent("alice-probe")  # any client of b; alice's token goes by argument
    created = await alice_on_b.call("create_session", purpose="shared", auth_token=alice_on_a.token)
    assert created["success"] is True

    revoked = await alice_on_a.call("revoke_token", token=alice_on_a.token)
    assert revoked["revoked"] is True
    refused = await alice_on_b.fails(
        "get_session", session_id=created["session_id"], auth_token=alice_on_a.token
    )
    assert refused.code == "AUTH_004"


async def test_a_write_through_one_replica_is_read_through_the_other(
    scs_factory: ServerFactory,
) -> None:
    a = await scs_factory(http=True)
    b = await scs_factory(http=True, same_database_as=a)
    writer: Agent = await a.agent("writer")
    reader: Agent = await b.agent("reader")
    session = await writer.call("create_session", purpose="replicas")
    sid = session["session_id"]

    async def count() -> int:
        return int((await reader.call("get_messages", session_id=sid))["count"])

    assert await count() == 0  # b's cache now holds the empty page
    for n in range(3):
        await writer.call("add_message", session_id=sid, content=f"note {n} from a")
    # the cache on b follows the change feed (exact on SQLite, ~ms on PostgreSQL)
    assert await eventually(count, 3) == 3

    async def found() -> int:
        hits = await reader.call("search_context", session_id=sid, query="note from a")
        return int(hits["count"])

    assert await eventually(found, 3) == 3
