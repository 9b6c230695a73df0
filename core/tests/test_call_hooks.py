"""The call hooks (scs_call_started / _admitted / _finished) around real MCP calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from scs_server import ScsError, hookimpl, requires
from scs_server.plugins import PluginError, PluginHost, PluginInfo, discover

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from scs_server.app import App
    from scs_server.request import Call
    from scs_server.testing import ScsServer, ServerFactory


@dataclass
class Seen:
    """What one hook saw: a copy of the call record at that moment."""

    hook: str
    kind: str
    name: str
    token: str | None
    agent: str | None
    error: str | None
    seconds: float


@dataclass
class Watcher:
    """A test plugin: records every hook, refuses on request, counts tool runs."""

    seen: list[Seen] = field(default_factory=list)
    refuse_at: dict[str, str] = field(default_factory=dict)  # hook -> error code
    runs: int = 0
    finished_raises: bool = False

    def _note(self, hook: str, call: Call) -> None:
        agent = call.identity.agent_id if call.identity is not None else None
        self.seen.append(
            Seen(hook, call.kind, call.name, call.token, agent, call.error, call.seconds)
        )
        if hook in self.refuse_at:
            raise ScsError(self.refuse_at[hook], f"refused in {hook}")

    @hookimpl
    def scs_register(self, app: App, mcp: FastMCP[Any]) -> None:
        @mcp.tool(tags=requires("read"))
        async def watched() -> dict[str, Any]:
            self.runs += 1
            return {"success": True}

        @mcp.resource("watch://state", tags=requires("read"))
        def state() -> str:
            return "state"

        @mcp.prompt(name="watch-prompt")
        def watch_prompt() -> str:
            return "prompted"

    @hookimpl
    def scs_call_started(self, call: Call) -> None:
        self._note("started", call)

    @hookimpl
    def scs_call_admitted(self, app: App, call: Call) -> None:
        assert app.tools  # the app is handed over too
        self._note("admitted", call)

    @hookimpl
    def scs_call_finished(self, call: Call) -> None:
        self._note("finished", call)
        if self.finished_raises:
            raise RuntimeError("an observer failing")


async def serve(scs_factory: ServerFactory, watcher: Watcher) -> ScsServer:
    return await scs_factory("sessions,watcher", extra_plugins={"watcher": watcher})


async def test_hooks_see_the_call_in_order(scs_factory: ServerFactory) -> None:
    watcher = Watcher()
    server = await serve(scs_factory, watcher)
    alice = await server.agent("alice")
    watcher.seen.clear()

    assert await alice.call("watched") == {"success": True}

    assert [seen.hook for seen in watcher.seen] == ["started", "admitted", "finished"]
    started, admitted, finished = watcher.seen
    assert (started.kind, started.name, started.token) == ("tool", "watched", alice.token)
    assert started.agent is None  # not verified yet
    assert admitted.agent == "alice"
    assert finished.agent == "alice" and finished.error is None and finished.seconds > 0
    assert watcher.runs == 1
    assert server.app.calls.in_flight["tool"] == 0


async def test_a_refusal_in_started_stops_the_call_before_auth(
    scs_factory: ServerFactory,
) -> None:
    watcher = Watcher(refuse_at={"started": "RATE_LIMITED"})
    server = await serve(scs_factory, watcher)
    async with server.client() as client:
        result = await client.call_tool(
            "watched", {"auth_token": "not even a token"}, raise_on_error=False
        )
    assert result.is_error
    assert '"code": "RATE_LIMITED"' in result.content[0].text  # type: ignore[union-attr]
    assert [seen.hook for seen in watcher.seen] == ["started", "finished"]
    assert watcher.seen[-1].error == "RATE_LIMITED"
    assert watcher.runs == 0


async def test_a_refusal_in_admitted_keeps_the_tool_from_running(
    scs_factory: ServerFactory,
) -> None:
    watcher = Watcher()
    server = await serve(scs_factory, watcher)
    alice = await server.agent("alice")
    watcher.refuse_at["admitted"] = "LIMIT_EXCEEDED"
    error = await alice.fails("watched")
    assert error.code == "LIMIT_EXCEEDED"
    assert watcher.runs == 0
    assert watcher.seen[-1].hook == "finished"
    assert watcher.seen[-1].error == "LIMIT_EXCEEDED"


async def test_failed_authentication_is_finished_but_never_admitted(
    scs_factory: ServerFactory,
) -> None:
    watcher = Watcher()
    server = await serve(scs_factory, watcher)
    async with server.client() as client:
        result = await client.call_tool("watched", {"auth_token": "garbage"}, raise_on_error=False)
    assert result.is_error
    assert [seen.hook for seen in watcher.seen] == ["started", "finished"]
    assert watcher.seen[-1].error == "AUTH_002"


async def test_a_failing_observer_does_not_fail_the_call(scs_factory: ServerFactory) -> None:
    watcher = Watcher(finished_raises=True)
    server = await serve(scs_factory, watcher)
    alice = await server.agent("alice")
    assert await alice.call("watched") == {"success": True}
    assert watcher.runs == 1


async def test_resource_reads_go_through_the_hooks(scs_factory: ServerFactory) -> None:
    watcher = Watcher()
    server = await scs_factory("sessions,watcher", http=True, extra_plugins={"watcher": watcher})
    alice = await server.agent("alice")
    watcher.seen.clear()
    async with server.client(token=alice.token) as client:
        contents = await client.read_resource("watch://state")
    assert contents[0].text == "state"  # type: ignore[union-attr]
    assert [(seen.hook, seen.kind, seen.name) for seen in watcher.seen] == [
        ("started", "resource", "watch://state"),
        ("admitted", "resource", "watch://state"),
        ("finished", "resource", "watch://state"),
    ]
    assert watcher.seen[-1].agent == "alice"


async def test_prompts_go_through_the_hooks(scs_factory: ServerFactory) -> None:
    watcher = Watcher()
    server = await scs_factory("sessions,watcher", http=True, extra_plugins={"watcher": watcher})
    alice = await server.agent("alice")
    watcher.seen.clear()
    async with server.client(token=alice.token) as client:
        result = await client.get_prompt("watch-prompt")
    assert "prompted" in str(result.messages[0].content)
    assert [(seen.hook, seen.kind, seen.name) for seen in watcher.seen] == [
        ("started", "prompt", "watch-prompt"),
        ("admitted", "prompt", "watch-prompt"),
        ("finished", "prompt", "watch-prompt"),
    ]
    assert watcher.seen[-1].agent == "alice" and watcher.seen[0].token == alice.token


class AsyncHook:
    @hookimpl
    async def scs_call_finished(self, call: Call) -> None:
        """Call hooks run on every call: they must be plain functions."""


def test_an_async_call_hook_is_refused_at_load() -> None:
    infos = {**discover(), "slow": PluginInfo("slow", "test", "0", AsyncHook())}
    with pytest.raises(PluginError, match="scs_call_finished must not be async"):
        PluginHost.create(["slow"], infos)


@dataclass
class Ordered:
    """A test plugin whose call hooks write their name into a shared list."""

    name: str
    order: list[str]

    @hookimpl
    def scs_call_started(self, call: Call) -> None:
        self.order.append(self.name)


@dataclass
class EagerOrdered(Ordered):
    @hookimpl(tryfirst=True)
    def scs_call_started(self, call: Call) -> None:
        self.order.append(self.name)


async def test_a_tryfirst_implementation_runs_first(scs_factory: ServerFactory) -> None:
    order: list[str] = []
    watcher = Watcher()
    plain = await scs_factory(
        "sessions,watcher,early,late",
        extra_plugins={
            "watcher": watcher,
            "early": Ordered("early", order),
            "late": Ordered("late", order),
        },
    )
    alice = await plain.agent("alice")
    order.clear()
    await alice.call("watched")
    assert order == ["early", "late"]  # dependency (selection) order without options

    eager: list[str] = []
    server = await scs_factory(
        "sessions,watcher,early,late",
        extra_plugins={
            "watcher": Watcher(),
            "early": Ordered("early", eager),
            "late": EagerOrdered("late", eager),
        },
    )
    bob = await server.agent("bob")
    eager.clear()
    await bob.call("watched")
    assert eager == ["late", "early"]


@dataclass
class Wrapping:
    """Wraps every scs_call_finished: sees the call before and after the others ran."""

    watcher: Watcher
    around: list[tuple[str, int]] = field(default_factory=list)

    @hookimpl(wrapper=True)
    def scs_call_finished(self, call: Call) -> Any:
        self.around.append(("before", len(self.watcher.seen)))
        result = yield
        self.around.append(("after", len(self.watcher.seen)))
        return result


async def test_a_wrapper_runs_around_the_other_implementations(
    scs_factory: ServerFactory,
) -> None:
    watcher = Watcher()
    wrapping = Wrapping(watcher)
    server = await scs_factory(
        "sessions,watcher,wrapping", extra_plugins={"watcher": watcher, "wrapping": wrapping}
    )
    alice = await server.agent("alice")
    watcher.seen.clear()
    wrapping.around.clear()
    await alice.call("watched")
    # started and admitted were seen before finished; the watcher's finished ran inside
    assert wrapping.around == [("before", 2), ("after", 3)]


class EventWrapper:
    @hookimpl(wrapper=True)
    def scs_event(self, app: App, event: Any) -> Any:
        return (yield)


class EagerRegister:
    @hookimpl(tryfirst=True)
    def scs_register(self, app: App, mcp: FastMCP[Any]) -> None:
        """Registration is per plugin: an order option means nothing there."""


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (
            EventWrapper(),
            "plugin 'odd': scs_event: wrapper=True is refused: implementations of this hook "
            "may be async, a wrapper would not see their work",
        ),
        (
            EagerRegister(),
            "plugin 'odd': scs_register: tryfirst is refused: this hook is called for each "
            "plugin on its own",
        ),
    ],
)
def test_options_a_hook_cannot_honour_are_refused_at_load(plugin: object, message: str) -> None:
    infos = {**discover(), "odd": PluginInfo("odd", "test", "0", plugin)}
    with pytest.raises(PluginError) as caught:
        PluginHost.create(["odd"], infos)
    assert str(caught.value) == message
