"""The FastMCP server scs runs: FastMCP with a cheaper tool lookup on the call path.

Every ``tools/call`` looks its tool up through FastMCP's ``AggregateProvider``, which
asks each provider in its own task of a fresh anyio task group, so that several
providers answer concurrently. scs adopts every plugin's components onto the root
server (``scs_server.app._adopt``): one provider, its local one. A task group and a
task to ask that one provider cost a call ~0.1 ms of CPU (``bench/call_profile.py``:
110-130 µs a call here, a twentieth of a whole call). With one provider, ``ScsFastMCP``
asks it directly; the answer and its errors are handled exactly as the aggregate does
(``_get_highest_version_result``), FastMCP's component auth check and transforms run
as before, and with more providers (one added by hand) FastMCP's own lookup runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastmcp import FastMCP
from fastmcp.server.providers.aggregate import AggregateProvider

if TYPE_CHECKING:
    from fastmcp.tools import Tool
    from fastmcp.utilities.versions import VersionSpec


class _OneProviderLookup(AggregateProvider):
    """``AggregateProvider``'s tool lookup without a task group when there is one provider."""

    async def _get_tool(self, name: str, version: VersionSpec | None = None) -> Tool | None:
        providers = self.providers
        if len(providers) != 1:
            return await super()._get_tool(name, version)
        found: Tool | None | BaseException
        try:
            found = await providers[0].get_tool(name, version)
        except Exception as error:  # not found, or a provider's failure: as the aggregate
            found = error
        return self._get_highest_version_result([found], f"get_tool({name!r})")  # type: ignore[return-value]


class ScsFastMCP(FastMCP[Any], _OneProviderLookup):
    """FastMCP whose ``_get_tool`` (below FastMCP's own, which adds the auth check) asks a
    lone provider directly (module docstring)."""
