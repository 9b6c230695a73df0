"""Reading ``/metrics`` of a test server over HTTP (security and monitoring tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from scs_server.testing import ScsServer


async def metrics(server: ScsServer, headers: dict[str, str]) -> httpx2.Response:
    """GET the server's ``/metrics`` with ``headers`` (its credential)."""
    assert server.url is not None
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.get(server.url.removesuffix("/mcp") + "/metrics", headers=headers)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels`` in a scrape's text."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    raise AssertionError(f"{name}{labels} not in /metrics")
