"""Bad input: typed errors, nothing written, no fencing token spent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.testing import ScsServer

BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("empty list", {"resources": []}, "VALIDATION_001"),
    ("empty string", {"resources": [""]}, "VALIDATION_001"),
    ("10,000 resources", {"resources": [f"f{n}" for n in range(10_000)]}, "VALIDATION_002"),
    ("10 KB path", {"resources": ["a" * 10_240]}, "VALIDATION_002"),
    ("absurd globstars", {"resources": ["/".join(["**"] * 50)]}, "VALIDATION_001"),
    ("many wildcards", {"resources": ["*?" * 40]}, "VALIDATION_001"),
    ("too many segments", {"resources": ["/".join(["d"] * 100)]}, "VALIDATION_002"),
    ("absolute path", {"resources": ["/etc/passwd"]}, "VALIDATION_001"),
    ("dot-dot", {"resources": ["src/../secret"]}, "VALIDATION_001"),
    ("empty segment", {"resources": ["src//a.py"]}, "VALIDATION_001"),
    ("control character", {"resources": ["src/a\x00.py"]}, "VALIDATION_001"),
    ("negative ttl", {"resources": ["a"], "ttl_s": -5}, "VALIDATION_001"),
    ("zero ttl", {"resources": ["a"], "ttl_s": 0}, "VALIDATION_001"),
    ("ttl above the maximum", {"resources": ["a"], "ttl_s": 10**9}, "VALIDATION_001"),
    ("negative wait", {"resources": ["a"], "wait_s": -1}, "VALIDATION_001"),
    ("wait above the maximum", {"resources": ["a"], "wait_s": 10**6}, "VALIDATION_001"),
    ("unknown mode", {"resources": ["a"], "mode": "sole"}, "VALIDATION_001"),
    ("zero capacity", {"resources": ["a"], "capacity": 0}, "VALIDATION_001"),
    ("long reason", {"resources": ["a"], "reason": "x" * 10_000}, "VALIDATION_002"),
    ("lone surrogate in a reason", {"resources": ["a"], "reason": "x\ud800"}, "VALIDATION_001"),
    ("NUL in a session label", {"resources": ["a"], "session_id": "s\x00"}, "VALIDATION_001"),
    ("lone surrogate in a path", {"resources": ["src/\udfff"]}, "VALIDATION_001"),
    ("long session label", {"resources": ["a"], "session_id": "s" * 1000}, "VALIDATION_001"),
]


async def test_bad_acquire_is_typed_and_writes_nothing(server: ScsServer, helpers: Any) -> None:
    alice = await server.agent("alice")
    for name, arguments, code in BAD_REQUESTS:
        error = await alice.fails("acquire_lease", **arguments)
        assert error.code == code, (name, error.body)
    assert await helpers.lease_rows(server) == []
    assert await helpers.last_token(server) == 0


async def test_bad_renew_check_and_unknown_ids(server: ScsServer, helpers: Any) -> None:
    alice = await server.agent("alice")
    lease = await alice.call("acquire_lease", resources=["a"], ttl_s=60)
    before = await helpers.lease_rows(server)
    assert (await alice.fails("renew_lease", lease_id=lease["lease_id"], ttl_s=-1)).code == (
        "VALIDATION_001"
    )
    assert (await alice.fails("renew_lease", lease_id="lease_nope", ttl_s=60)).code == (
        "RESOURCE_001"
    )
    assert (await alice.fails("release_lease", lease_id="x" * 500)).code == "RESOURCE_001"
    assert (await alice.fails("renew_lease", lease_id="\ud800")).code == "VALIDATION_001"
    assert (await alice.fails("release_lease", lease_id="a\x00")).code == "VALIDATION_001"
    assert (await alice.fails("check_leases", resources=[])).code == "VALIDATION_001"
    assert (await alice.fails("check_leases", resources=["**/" * 30 + "x"])).code == (
        "VALIDATION_001"
    )
    assert await helpers.lease_rows(server) == before


async def test_reading_needs_a_token_and_writing_needs_write(server: ScsServer) -> None:
    reader = await server.agent("reader", agent_type="readonly")
    assert (await reader.call("list_leases"))["count"] == 0
    assert (await reader.fails("acquire_lease", resources=["a"])).code == "AUTH_005"
