"""Every bad input gets a typed error and changes nothing; size and count limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scs_server.testing import Agent, ScsServer, ServerFactory

SMALL = {"SCS_MEMORY_MAX_VALUE_KB": "1", "SCS_MEMORY_MAX_METADATA_KB": "1"}

BAD_KEYS = [
    "",
    "k" * 256,
    "has space",
    " leading",
    "trailing ",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "nul\x00byte",
    "escape\x1b[0m",
    "delete\x7f",
    "nbsp\u00a0x",
    "line\u2028sep",
    "ideographic\u3000space",
]

BAD_SETS: list[tuple[dict[str, Any], str]] = [
    *[({"key": key}, "VALIDATION_001") for key in BAD_KEYS],
    ({"value": "x" * 1100}, "VALIDATION_002"),
    ({"value": "é" * 600}, "VALIDATION_002"),  # 600 characters, 1,202 bytes of UTF-8
    ({"value": {"deep": ["y" * 1100]}}, "VALIDATION_002"),
    ({"metadata": "not an object"}, "VALIDATION_001"),
    ({"metadata": [1, 2]}, "VALIDATION_001"),
    ({"metadata": "[1, 2]"}, "VALIDATION_001"),
    ({"metadata": 5}, "VALIDATION_001"),
    ({"metadata": {"big": "z" * 1100}}, "VALIDATION_002"),
    ({"expires_in": 0}, "VALIDATION_001"),
    ({"expires_in": -5}, "VALIDATION_001"),
    ({"expires_in": 31_536_001}, "VALIDATION_001"),
    ({"expires_in": "soon"}, "VALIDATION_001"),
    ({"expires_in": 1.5}, "VALIDATION_001"),
    ({"if_version": -1}, "VALIDATION_001"),
    ({"if_version": "one"}, "VALIDATION_001"),
    ({"overwrite": "maybe"}, "VALIDATION_001"),
    ({"session_id": 123}, "VALIDATION_001"),
    ({"session_id": "session_missing"}, "RESOURCE_001"),
    ({"session_id": "bad id\n"}, "RESOURCE_001"),
    ({"unknown_argument": 1}, "VALIDATION_001"),
]


@pytest.fixture
async def small(scs_factory: ServerFactory, helpers: Any) -> ScsServer:
    return await scs_factory(plugins=helpers.plugins, env=SMALL)


@pytest.mark.parametrize(("change", "code"), BAD_SETS)
async def test_bad_set_is_refused_and_changes_nothing(
    small: ScsServer, helpers: Any, change: dict[str, Any], code: str
) -> None:
    alice = await small.agent("alice")
    await alice.call("set_memory", key="k", value="original", metadata={"v": 1})
    before = await helpers.memory_rows(small)

    err = await alice.fails("set_memory", **{"key": "k", "value": "changed", **change})
    assert err.code == code, err.body
    assert err.message and err.body["success"] is False
    assert await helpers.memory_rows(small) == before


async def test_missing_value_is_refused(alice: Agent, server: ScsServer, helpers: Any) -> None:
    assert (await alice.fails("set_memory", key="k")).code == "VALIDATION_001"
    assert await helpers.memory_rows(server) == []


async def test_value_exactly_at_the_limit_is_accepted(small: ScsServer) -> None:
    alice = await small.agent("alice")
    stored = await alice.call("set_memory", key="k", value="x" * 1022)  # 1,024 bytes as JSON
    assert stored["size"] == 1024
    err = await alice.fails("set_memory", key="k", value="x" * 1023)
    assert err.code == "VALIDATION_002"
    assert err.body["size"] == 1025 and err.body["max_bytes"] == 1024


async def test_longest_key_is_accepted(alice: Agent) -> None:
    key = "k" * 254 + "✓"
    await alice.call("set_memory", key=key, value=1)
    assert (await alice.call("get_memory", key=key))["value"] == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "white space", "nul\x00"])
async def test_bad_keys_on_read_and_delete(alice: Agent, key: str) -> None:
    for tool in ("get_memory", "delete_memory"):
        assert (await alice.fails(tool, key=key)).code == "VALIDATION_001"


@pytest.mark.parametrize(
    "args",
    [
        {"limit": 0},
        {"limit": 1001},
        {"prefix": "has space"},
        {"prefix": "p" * 256},
        {"cursor": "not a cursor!"},
        {"cursor": "WzFd"},  # valid base64 of [1]: not a cursor this server made
        {"session_id": 7},
    ],
)
async def test_bad_list_arguments(alice: Agent, args: dict[str, Any]) -> None:
    assert (await alice.fails("list_memory", **args)).code == "VALIDATION_001"


async def test_entry_limit_counts_every_scope(scs_factory: ServerFactory, helpers: Any) -> None:
    server = await scs_factory(
        plugins=helpers.plugins, env={"SCS_MEMORY_MAX_ENTRIES_PER_AGENT": "3"}
    )
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    session_id = await helpers.create_session(alice)
    await alice.call("set_memory", key="a", value=1)
    await alice.call("set_memory", key="b", value=2)
    await alice.call("set_memory", key="a", value=1, session_id=session_id)

    for scope in (None, session_id):
        err = await alice.fails("set_memory", key="c", value=3, session_id=scope)
        assert err.code == "LIMIT_EXCEEDED"
        assert err.body["limit"] == 3 and err.body["count"] == 3 and err.hint
    # updating an entry one already has is not a new entry
    assert (await alice.call("set_memory", key="a", value=10))["version"] == 2
    # the limit is per agent
    await bob.call("set_memory", key="c", value=3)
    assert len(await helpers.memory_rows(server)) == 4


async def test_readonly_agent_cannot_write(server: ScsServer, helpers: Any) -> None:
    reader = await server.agent("reader", agent_type="readonly")
    err = await reader.fails("set_memory", key="k", value=1)
    assert err.code.startswith("AUTH_")
    assert (await reader.call("list_memory"))["entries"] == []
    assert await helpers.memory_rows(server) == []
