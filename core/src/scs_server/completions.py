"""``completion/complete``: each request goes to the plugin that owns the prompt or template.

A plugin offers completions the FastMCP way, on its own server in ``scs_register``::

    @mcp.completion
    async def complete(ref, argument, context):
        if argument.name == "session_id":
            return await my_ids(current_identity(), argument.value)
        return None

The root server has a single completion handler (FastMCP allows one); the host gives
it the handlers of every plugin and routes each request by the prompt name or the
resource template named in ``ref``, as the caller: the Bearer token is verified like a
resource read's (``current_identity()`` is the caller, or None without a valid token),
so a plugin can offer only what that caller may see.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mcp_types
from fastmcp.server.completions import MAX_COMPLETION_VALUES

from scs_server.identity import acting_as
from scs_server.request import bearer_token

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fastmcp import FastMCP
    from fastmcp.server.completions import CompletionHandler, CompletionReference, CompletionValues

    from scs_server.app import App


MAX_VALUES = MAX_COMPLETION_VALUES  # what one answer may hold (the MCP limit)


@dataclass
class CompletionRouter:
    """The plugins' completion handlers, keyed by what they complete."""

    prompts: dict[str, CompletionHandler] = field(default_factory=dict)
    templates: dict[str, CompletionHandler] = field(default_factory=dict)

    async def adopt(self, child: FastMCP[Any]) -> None:
        """Route the child's prompts and templates to the child's completion handler."""
        # FastMCP 4 keeps the handler set by ``@mcp.completion`` here (no public getter).
        handler: CompletionHandler | None = getattr(child, "_completion_handler", None)
        if handler is None:
            return
        for prompt in await child.list_prompts():
            self.prompts[prompt.name] = handler
        for template in await child.list_resource_templates():
            self.templates[template.uri_template] = handler

    def __bool__(self) -> bool:
        return bool(self.prompts or self.templates)

    def handler_for(self, ref: CompletionReference) -> CompletionHandler | None:
        if isinstance(ref, mcp_types.PromptReference):
            return self.prompts.get(ref.name)
        return self.templates.get(ref.uri)

    def install(self, app: App) -> None:
        """Answer ``completion/complete`` on the root server (declares the capability)."""
        from scs_server.middleware import identify

        async def complete(
            ref: CompletionReference,
            argument: mcp_types.CompletionArgument,
            context: mcp_types.CompletionContext | None,
        ) -> CompletionValues:
            handler = self.handler_for(ref)
            if handler is None:
                return None
            identity = await identify(app, bearer_token(), required=False)
            with acting_as(identity):
                result = handler(ref, argument, context)
                if inspect.isawaitable(result):
                    result = await result
            return result

        app.server.add_completion_handler(complete)


def starting_with(candidates: Iterable[str], typed: str) -> list[str]:
    """The candidates that start with what the client typed so far, in their order."""
    return [value for value in candidates if value.startswith(typed)]
