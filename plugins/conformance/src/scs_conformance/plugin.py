"""Hook implementations of the conformance plugin: the fixtures of the official MCP
conformance suite (``@modelcontextprotocol/conformance``), registered like any plugin's
components. Opt-in: ``scs serve --plugins default,conformance``. Never in production:
its tools and resources answer without a token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mcp_types
from scs_server import hookimpl

from scs_conformance.prompts import register_prompts
from scs_conformance.resources import TEMPLATE, register_resources
from scs_conformance.tools import register_tools

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.server.completions import CompletionReference

# candidates for completion/complete, per argument
CANDIDATES: dict[str, tuple[str, ...]] = {
    "arg1": ("paris", "park", "party", "test", "testing"),
    "arg2": ("hello", "world", "wonder"),
    "id": ("1", "2", "3", "123"),
}


@hookimpl
def scs_register(mcp: FastMCP[Any]) -> None:
    register_tools(mcp)
    register_resources(mcp)
    register_prompts(mcp)

    @mcp.completion
    def complete(
        ref: CompletionReference,
        argument: mcp_types.CompletionArgument,
        _context: mcp_types.CompletionContext | None,
    ) -> list[str] | None:
        """Completions for test_prompt_with_arguments and test://template/{id}/data."""
        completable = (
            ref.name == "test_prompt_with_arguments"
            if isinstance(ref, mcp_types.PromptReference)
            else ref.uri == TEMPLATE
        )
        if not completable:
            return None
        return [
            value for value in CANDIDATES.get(argument.name, ()) if value.startswith(argument.value)
        ]
