"""Auth over real HTTP: minting, every bad token, permissions, revocation, audit."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.auth import hs256
from scs_server.testing import (
    ADMIN_API_KEY,
    API_KEY,
    JWT_SECRET,
    ScsServer,
    parse_error,
    parse_result,
)

from . import probe_plugin

if TYPE_CHECKING:
    from pathlib import Path

PLUGINS = "probe"


async def http_call(
    server: ScsServer, tool: str, args: dict[str, Any], headers: dict[str, str]
) -> Any:
    assert server.url
    async with Client(StreamableHttpTransport(server.url, headers=headers)) as client:
        result = await client.call_tool(tool, args, raise_on_error=False)
    if result.is_error:
        return parse_error(result)
    return parse_result(result)


async def code_with_bearer(server: ScsServer, token: str, tool: str = "whoami") -> str:
    outcome = await http_call(server, tool, {}, {"Authorization": f"Bearer {token}"})
    return getattr(outcome, "code", "OK")


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "mallory",
        "agent_type": "admin",
        "permissions": ["read", "write", "admin", "debug"],
        "iss": "scs",
        "aud": "scs-mcp",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j" * 32,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
async def server(scs_factory: Any) -> ScsServer:
    return await scs_factory(PLUGINS, http=True, extra_plugins={"probe": probe_plugin})


async def test_mint_over_http_with_header_key(server: ScsServer) -> None:
    minted = await http_call(
        server,
        "authenticate_agent",
        {"agent_id": "alice", "agent_type": "claude"},
        {"X-API-Key": API_KEY},
    )
    assert minted["success"] is True
    assert minted["permissions"] == ["read", "write"]
    assert minted["token_type"] == "Bearer"
    assert minted["expires_at"].endswith("Z")
    decoded = jwt.decode(minted["token"], JWT_SECRET, algorithms=["HS256"], audience="scs-mcp")
    assert decoded["sub"] == "alice" and decoded["iss"] == "scs" and len(decoded["jti"]) == 32
    me = await http_call(server, "whoami", {}, {"Authorization": f"Bearer {minted['token']}"})
    assert me["agent_id"] == "alice"
    # the server signs with scs_server.auth.hs256: exactly the bytes PyJWT would produce
    assert jwt.encode(decoded, JWT_SECRET, algorithm="HS256") == minted["token"]


@pytest.mark.parametrize(
    "payload",
    [
        claims(),
        claims(sub="zoë@host:1", crd="api_key", tkn="cursor-a1b2c3", permissions=[]),
        {"nested": {"b": [1, 2.5, None, True]}, "text": 'é\u2028"quote"\\', "n": -1},
    ],
)
def test_hs256_encoder_matches_pyjwt_byte_for_byte(payload: dict[str, Any]) -> None:
    secret = "s3cret-" * 6
    token = hs256.encode(payload, secret)
    assert token == jwt.encode(payload, secret, algorithm="HS256")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    options = {"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False}
    assert jwt.decode(token, secret, algorithms=["HS256"], options=options) == payload
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, secret + "x", algorithms=["HS256"], options=options)


async def test_no_token_is_refused(server: ScsServer) -> None:
    outcome = await http_call(server, "whoami", {}, {})
    assert outcome.code == "AUTH_001"
    assert "authenticate_agent" in outcome.hint


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "Bearer",
        "x" * 9000,
    ],
)
async def test_garbage_tokens(server: ScsServer, token: str) -> None:
    assert await code_with_bearer(server, token) == "AUTH_002"


async def test_alg_none(server: ScsServer) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert await code_with_bearer(server, f"{header}.{payload}.") == "AUTH_002"


async def test_signed_with_another_secret(server: ScsServer) -> None:
    token = jwt.encode(claims(), "another-secret-that-is-long-enough-000000", algorithm="HS256")
    assert await code_with_bearer(server, token) == "AUTH_002"


async def test_rs256_token_against_hs256_server(server: ScsServer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), key, algorithm="RS256")
    assert await code_with_bearer(server, token) == "AUTH_002"


async def test_hs256_signed_with_public_key_against_rs256_server(
    scs_factory: Any, tmp_path: Path
) -> None:
    import hashlib
    import hmac

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "private.pem"
    public = tmp_path / "public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public.write_bytes(public_pem)
    rs_server = await scs_factory(
        PLUGINS,
        http=True,
        extra_plugins={"probe": probe_plugin},
        jwt_algorithm="RS256",
        jwt_private_key_path=private,
        jwt_public_key_path=public,
    )
    good = await rs_server.agent("alice")
    assert jwt.get_unverified_header(good.token)["alg"] == "RS256"
    assert (await good.call("whoami"))["agent_id"] == "alice"
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{b64(signature)}"
    assert await code_with_bearer(rs_server, forged) == "AUTH_002"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"aud": "another-service"}, "AUTH_002"),
        ({"iss": "someone-else"}, "AUTH_002"),
        (
            {
                "exp": int(time.time()) - 120,
                "iat": int(time.time()) - 4000,
                "nbf": int(time.time()) - 4000,
            },
            "AUTH_003",
        ),
        ({"nbf": int(time.time()) + 3600}, "AUTH_002"),
        ({"jti": None}, "AUTH_002"),
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "not-yet-valid", "no-jti"],
)
async def test_claim_checks(server: ScsServer, changes: dict[str, Any], code: str) -> None:
    token = jwt.encode(claims(**changes), JWT_SECRET, algorithm="HS256")
    assert await code_with_bearer(server, token) == code


async def test_edited_payload_is_refused(server: ScsServer) -> None:
    alice = await server.agent("alice")
    header, payload, signature = alice.token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["permissions"] = ["read", "write", "admin"]
    edited = f"{header}.{b64(json.dumps(data).encode())}.{signature}"
    assert await code_with_bearer(server, edited, "admin_probe") == "AUTH_002"


async def test_revoked_token_and_refresh(server: ScsServer) -> None:
    alice = await server.agent("alice")
    refreshed = await alice.call("refresh_token", current_token=alice.token)
    assert refreshed["token"] != alice.token
    assert await code_with_bearer(server, alice.token) == "AUTH_004"
    assert await code_with_bearer(server, refreshed["token"]) == "OK"
    again = await alice.fails("refresh_token", token=alice.token)
    assert again.code == "AUTH_004"
    revoked = await alice.call("revoke_token", token=refreshed["token"])
    assert revoked["revoked"] is True
    assert await code_with_bearer(server, refreshed["token"]) == "AUTH_004"


async def test_identity_comes_only_from_the_token(server: ScsServer) -> None:
    alice = await server.agent("alice")
    bob = await server.agent("bob", agent_type="cursor")
    me = await alice.call("write_probe", agent_id="bob")
    assert me["agent_id"] == "alice"
    # the auth_token argument wins over the connection's Bearer header
    as_bob = await alice.call("whoami", auth_token=bob.token)
    assert as_bob["agent_id"] == "bob" and as_bob["agent_type"] == "cursor"


async def test_long_agent_id_is_refused(server: ScsServer) -> None:
    outcome = await http_call(
        server, "authenticate_agent", {"agent_id": "a" * 10_000}, {"X-API-Key": API_KEY}
    )
    assert outcome.code == "VALIDATION_001"


async def test_unknown_agent_type_gets_the_most_restricted_permissions(server: ScsServer) -> None:
    martian = await server.agent("zorg", agent_type="martian")
    assert martian.permissions == ["read"]
    assert (await martian.fails("write_probe")).code == "AUTH_005"


async def test_readonly_cannot_write_and_non_admin_cannot_admin(server: ScsServer) -> None:
    reader = await server.agent("reader", agent_type="readonly")
    denied = await reader.fails("write_probe")
    assert denied.code == "AUTH_005"
    assert "write" in denied.message
    writer = await server.agent("writer")
    assert (await writer.fails("admin_probe")).code == "AUTH_005"
    admin = await server.agent("root", agent_type="admin")
    assert (await admin.call("admin_probe"))["agent_id"] == "root"


async def test_admin_token_needs_admin_key(server: ScsServer) -> None:
    for args in ({"agent_type": "admin"}, {"requested_permissions": ["read", "admin"]}):
        outcome = await http_call(
            server, "authenticate_agent", {"agent_id": "sneaky", **args}, {"X-API-Key": API_KEY}
        )
        assert outcome.code == "AUTH_007"
    admin = await http_call(
        server,
        "authenticate_agent",
        {"agent_id": "root", "agent_type": "admin", "requested_permissions": ["read", "admin"]},
        {"X-API-Key": ADMIN_API_KEY},
    )
    assert admin["permissions"] == ["admin", "read"]


async def test_requested_permissions_are_intersected(server: ScsServer) -> None:
    minted = await http_call(
        server,
        "authenticate_agent",
        {"agent_id": "ro", "agent_type": "readonly", "requested_permissions": ["read", "write"]},
        {"X-API-Key": API_KEY},
    )
    assert minted["permissions"] == ["read"]
    bad = await http_call(
        server,
        "authenticate_agent",
        {"agent_id": "x", "requested_permissions": ["root"]},
        {"X-API-Key": API_KEY},
    )
    assert bad.code == "VALIDATION_001"


async def test_brute_force_is_counted_throttled_and_audited_in_aggregate(
    server: ScsServer,
) -> None:
    free = server.app.settings.auth_backoff_after
    for i in range(free):
        outcome = await http_call(
            server, "authenticate_agent", {"agent_id": "x"}, {"X-API-Key": f"guess-{i}"}
        )
        assert outcome.code == "AUTH_006"
    throttled = await http_call(
        server, "authenticate_agent", {"agent_id": "x"}, {"X-API-Key": "guess-next"}
    )
    assert throttled.code == "AUTH_008"
    assert throttled.body["retry_after"] >= 1
    # the right key is not refused because of the wrong ones
    minted = await http_call(
        server, "authenticate_agent", {"agent_id": "x"}, {"X-API-Key": API_KEY}
    )
    assert minted["agent_id"] == "x"
    from scs_server.auth.store import audit_rows

    await server.app.auth.flush_failure_audit()
    rows = await audit_rows(server.app.db, limit=100)
    failures = [r for r in rows if r["action"] == "auth_failures"]
    assert len(failures) == 1
    assert failures[0]["detail"].startswith(f"count={free} kinds=api_key:{free} ")


async def test_audit_never_contains_tokens(server: ScsServer) -> None:
    alice = await server.agent("alice")
    await alice.call("refresh_token", current_token=alice.token)
    await code_with_bearer(server, "garbage")
    writer = await server.agent("ro", agent_type="readonly")
    await writer.fails("write_probe")
    async with server.app.db.read() as reader:
        dump = [tuple(r.values()) for r in await reader.fetch_all("SELECT * FROM scs_audit")]
    actions = {(row[3], row[4]) for row in dump}
    assert {
        ("authenticate", "success"),
        ("refresh", "success"),
        ("auth_failures", "failure"),
        ("permission", "denied"),
    } <= actions
    text = json.dumps(dump)
    assert alice.token not in text and alice.token.split(".")[1] not in text


async def test_anonymous_read_is_off_by_default_and_read_only_when_on(scs_factory: Any) -> None:
    server = await scs_factory(
        PLUGINS, extra_plugins={"probe": probe_plugin}, allow_anonymous_read=True
    )
    async with server.client() as client:
        me = parse_result(await client.call_tool("whoami", {}))
        assert me["anonymous"] is True
        denied = await client.call_tool("write_probe", {}, raise_on_error=False)
        assert parse_error(denied).code == "AUTH_005"


async def test_internal_errors_carry_a_request_id_not_a_traceback(server: ScsServer) -> None:
    alice = await server.agent("alice")
    error = await alice.fails("explode")
    assert error.code == "INTERNAL_001"
    assert error.body["request_id"] in error.message
    assert "secret internal detail" not in json.dumps(error.body)
    assert "Traceback" not in json.dumps(error.body)


async def test_resources_need_a_bearer_header(server: ScsServer) -> None:
    # no resources in the probe plugin: an unknown resource read without a token is refused first
    async with server.client() as client:
        with pytest.raises(Exception, match="AUTH_001"):
            await client.read_resource("session://nope")


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    from scs_server.auth.tokens import TokenService
    from scs_server.errors import ScsError
    from scs_server.testing import make_settings

    service = TokenService(make_settings(tmp_path))
    ttl = service.settings.token_ttl_seconds
    minted = service.mint("short", "claude", frozenset({"read"}), now=int(time.time()) - ttl + 1)
    assert service.verify(minted.token).agent_id == "short"  # verified, now remembered
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            service.verify(minted.token)
        except ScsError as error:
            assert error.code == "AUTH_003"
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the remembered token never expired")
