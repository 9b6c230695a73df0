"""Hook implementations of the search plugin: settings, tools, index upkeep through
events and the change feed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field
from scs_server import hookimpl, require_identity, requires
from scs_server.events import MESSAGE_ADDED

from scs_search.service import Search
from scs_search.settings import SearchSettings

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App
    from scs_server.events import Event

SessionId = Annotated[str, Field(description="Session id from create_session (session_...)")]


@hookimpl
def scs_requires() -> list[str]:
    return ["messaging"]


@hookimpl
def scs_settings() -> type[SearchSettings]:
    return SearchSettings


@hookimpl
def scs_register(app: App, mcp: FastMCP[Any]) -> None:
    search = Search(app)
    app.services.provide(Search, search, by="search")

    @mcp.tool(tags=requires("read", rate="search"))
    async def search_context(
        query: Annotated[
            str,
            Field(description="Words to look for; typos are tolerated (1..256 chars by default)"),
        ],
        session_id: Annotated[
            str | None,
            Field(description="Session to search; omit to search every session you can read"),
        ] = None,
        fuzzy_threshold: Annotated[
            float,
            Field(ge=0, le=100, description="Lowest score (0..100) a result may have"),
        ] = 60.0,
        limit: Annotated[int, Field(ge=1, le=100, description="Most results (1..100)")] = 10,
        search_metadata: Annotated[
            bool, Field(description="Also match the messages' metadata values")
        ] = True,
        search_scope: Annotated[
            Literal["all", "public", "private"],
            Field(description="all you may see, only public, or only your private messages"),
        ] = "all",
        metadata_filter: Annotated[
            dict[str, Any] | None,
            Field(
                description="Only messages whose metadata has these top-level keys with "
                'these exact scalar values, e.g. {"task": "T-42"} (at most 8 keys)'
            ),
        ] = None,
        sender: Annotated[str | None, Field(description="Only messages of this agent_id")] = None,
        since: Annotated[
            str | None,
            Field(description="Only messages stamped at or after this ISO-8601 time"),
        ] = None,
        until: Annotated[
            str | None,
            Field(description="Only messages stamped at or before this ISO-8601 time"),
        ] = None,
    ) -> dict[str, Any]:
        """Fuzzy search over the messages you may see, best first: exact phrase, then every
        word (any order), then typos and partial words; score 0..100."""
        return await search.context(
            require_identity(),
            session_id,
            query,
            fuzzy_threshold,
            limit,
            search_metadata,
            search_scope,
            metadata_filter=metadata_filter,
            sender=sender,
            since=since,
            until=until,
        )

    @mcp.tool(tags=requires("read", rate="search"))
    async def search_by_sender(
        session_id: SessionId,
        sender: Annotated[str, Field(description="The agent_id whose messages you want")],
        limit: Annotated[int, Field(ge=1, le=100, description="Most messages (1..100)")] = 20,
    ) -> dict[str, Any]:
        """Messages of one sender in a session that you may see, newest first."""
        return await search.by_sender(require_identity(), session_id, sender, limit)

    @mcp.tool(tags=requires("read", rate="search"))
    async def search_by_timerange(
        session_id: SessionId,
        start_time: Annotated[
            str, Field(description="ISO-8601 start, inclusive (no offset means UTC)")
        ],
        end_time: Annotated[
            str, Field(description="ISO-8601 end, inclusive (no offset means UTC)")
        ],
        limit: Annotated[int, Field(ge=1, le=200, description="Most messages (1..200)")] = 50,
    ) -> dict[str, Any]:
        """Messages of a session you may see, stamped within the range, oldest first."""
        return await search.by_timerange(
            require_identity(), session_id, start_time, end_time, limit
        )


@hookimpl
def scs_event(app: App, event: Event) -> None:
    search = app.services.find(Search)
    if search is None:
        return
    if event.name == MESSAGE_ADDED:
        message = event.data.get("message")
        if isinstance(message, dict):
            search.cache.added(message)
            search.everything.added(message)


def _import_ranking() -> None:
    """Load numpy, RapidFuzz and the ranking modules (otherwise the first search imports
    them on the event loop: 0.1 s idle, seconds on a loaded machine)."""
    import scs_search.index
    import scs_search.ranking  # noqa: F401


@hookimpl
async def scs_startup(app: App) -> None:
    """Follow the change feed so that an unchanged index skips its database check; load
    the ranking modules in a worker thread once the server answers (neither start-up nor
    the first answer waits for them)."""
    search = app.services.find(Search)
    if search is not None:
        await search.cache.follow()
        await search.everything.follow()
        loop = asyncio.get_running_loop()

        def warm_up() -> None:
            loop.run_in_executor(None, _import_ranking)

        app.when_serving(warm_up)


@hookimpl
def scs_shutdown(app: App) -> None:
    search = app.services.find(Search)
    if search is not None:
        search.cache.close()
        search.everything.close()
