"""Two replicas behind nginx configured exactly as README "Scale out" shows.

The test reads the ``nginx`` block of that section, points it at two replicas on one
database (an ephemeral port instead of ``listen 80``), and starts the system's nginx
(Debian's ``nginx-light``, which ``.ci/run`` installs when missing). Handshake-era
clients, each from its own loopback address, keep their MCP session on the replica
that opened it; ``2026-07-28`` requests spread over both replicas. Without nginx the
test skips, or fails when ``SCS_TEST_REQUIRE_NGINX=1`` (CI sets it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from prometheus_client.parser import text_string_to_metric_families
from scs_server.testing import ADMIN_API_KEY, API_KEY, Agent, free_port, parse_result

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scs_server.testing import ScsServer, ServerFactory

README = Path(__file__).resolve().parents[1] / "README.md"
REQUIRE_NGINX = "SCS_TEST_REQUIRE_NGINX"
EXAMPLE_REPLICAS = ("10.0.0.11:23456", "10.0.0.12:23456")  # as the README writes them
HANDSHAKE_CLIENTS = 10  # with session-id hashing each would fail half the time
WRITES_PER_CLIENT = 3
MODERN_CALLS = 20
START_DEADLINE_S = 10.0
FEED_DEADLINE_S = 5.0

pytestmark = pytest.mark.slow


def readme_nginx_block() -> str:
    """The ``nginx`` code block of README's "Scale out" section."""
    section = README.read_text().split("\n## Scale out", 1)[1].split("\n## ", 1)[0]
    return section.split("```nginx\n", 1)[1].split("```", 1)[0]


def nginx_config(block: str, replicas: list[str], port: int, folder: Path) -> str:
    """The README's block with the test's replicas and port, inside a minimal main file."""
    for example, real in zip(EXAMPLE_REPLICAS, replicas, strict=True):
        assert f"server {example};" in block, f"README's upstream no longer lists {example}"
        block = block.replace(f"server {example};", f"server {real};")
    assert "listen 80;" in block, "README's server block no longer listens on 80"
    block = block.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp}\n{block}\n}}\n"
    )


def find_nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        reason = "no nginx: install Debian's nginx-light package"
        if os.environ.get(REQUIRE_NGINX) == "1":
            pytest.fail(f"{reason} (and {REQUIRE_NGINX}=1)")
        pytest.skip(reason)
    return found


@contextlib.contextmanager
def nginx_in_front(replicas: list[ScsServer], folder: Path) -> Iterator[str]:
    """nginx running the README's block in front of ``replicas``; yields its MCP URL."""
    nginx = find_nginx()
    addresses = [str(r.url).split("//", 1)[1].split("/", 1)[0] for r in replicas]
    port = free_port()
    folder.mkdir()
    config = folder / "nginx.conf"
    config.write_text(nginx_config(readme_nginx_block(), addresses, port, folder))
    command = [nginx, "-c", str(config), "-p", str(folder), "-e", str(folder / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.poll() is not None else ""
                pytest.fail(f"nginx did not start: {error}{(folder / 'error.log').read_text()}")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: lets open streams finish
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def from_address(address: str) -> Any:
    """An httpx client factory for the MCP transport whose connections leave from ``address``."""

    def factory(**options: Any) -> httpx2.AsyncClient:
        transport = httpx2.AsyncHTTPTransport(local_address=address)
        return httpx2.AsyncClient(transport=transport, **options)

    return factory


async def authenticated(client: Client[Any], agent_id: str) -> Agent:
    arguments = {"agent_id": agent_id, "agent_type": "claude", "api_key": API_KEY}
    minted = parse_result(await client.call_tool("authenticate_agent", arguments))
    return Agent(client, agent_id, "claude", minted["token"])


async def calls_served(replica: ScsServer, tool: str) -> float:
    """How many ``tool`` calls this replica answered (its own ``/metrics``)."""
    metrics_url = str(replica.url).removesuffix("/mcp") + "/metrics"
    async with httpx2.AsyncClient() as http:
        response = await http.get(metrics_url, headers={"X-API-Key": ADMIN_API_KEY})
    response.raise_for_status()
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "scs_tool_calls_total" and sample.labels.get("tool") == tool
    )


async def test_the_readme_balancer_keeps_handshake_sessions_and_spreads_modern_requests(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    a = await scs_factory(http=True)
    b = await scs_factory(http=True, same_database_as=a)
    with nginx_in_front([a, b], tmp_path / "nginx") as url:
        async with Client(StreamableHttpTransport(url)) as modern_client:
            modern = await authenticated(modern_client, "modern")
            assert modern_client.protocol_version == "2026-07-28"
            sid = (await modern.call("create_session", purpose="balanced"))["session_id"]

            async def handshake_agent(n: int) -> str | None:
                transport = StreamableHttpTransport(
                    url, httpx_client_factory=from_address(f"127.0.0.{10 + n}")
                )
                async with Client(transport, mode="legacy") as client:
                    agent = await authenticated(client, f"agent-{n}")
                    for k in range(WRITES_PER_CLIENT):
                        await agent.call("add_message", session_id=sid, content=f"{n}/{k}")
                    page = await agent.call("get_messages", session_id=sid, limit=1000)
                    mine = [m["content"] for m in page["messages"] if m["sender"] == agent.agent_id]
                    assert mine == [f"{n}/{k}" for k in range(WRITES_PER_CLIENT)]
                    return client.protocol_version

            versions = await asyncio.gather(*map(handshake_agent, range(HANDSHAKE_CLIENTS)))
            assert all(v is not None and v < "2026-07-28" for v in versions), versions

            before = [await calls_served(r, "get_session") for r in (a, b)]
            for _ in range(MODERN_CALLS):
                await modern.call("get_session", session_id=sid)
            after = [await calls_served(r, "get_session") for r in (a, b)]
            served = [late - early for late, early in zip(after, before, strict=True)]
            assert sum(served) == MODERN_CALLS
            assert min(served) > 0, f"2026-07-28 requests all went to one replica: {served}"

            # what each replica wrote is read through the balancer (the feed: ~ms apart)
            want = HANDSHAKE_CLIENTS * WRITES_PER_CLIENT
            deadline = time.monotonic() + FEED_DEADLINE_S
            count = -1
            while count != want and time.monotonic() < deadline:
                page = await modern.call("get_messages", session_id=sid, limit=want + 1)
                count = len(page["messages"])
            assert count == want
