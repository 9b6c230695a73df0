"""Plugins are validated at load: a bad one is refused with its name and the reason.

Strict mode (the default, ``SCS_PLUGINS_STRICT=true``) stops start-up; with
``SCS_PLUGINS_STRICT=false`` the server starts with the other plugins and the
refused plugin's tools are absent.
"""

from __future__ import annotations

import sqlite3
import types
from typing import TYPE_CHECKING, Any

import pytest
from scs_server import Migration, core_plugin, hookimpl, requires
from scs_server.app import StartupError, create_app
from scs_server.plugins import CORE, PluginInfo
from scs_server.testing import ScsServer, make_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fastmcp import FastMCP
    from scs_server.app import App


def plugin(name: str, **hooks: Callable[..., Any]) -> PluginInfo:
    """A plugin made of the given hook functions, as if found through an entry point."""
    module = types.ModuleType(f"scs_test_{name}")
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return PluginInfo(name, f"scs-plugin-{name}", "0.0.1", module)


def tool_plugin(name: str, *, needs: list[str] | None = None) -> PluginInfo:
    """A well-formed plugin with one tool ``<name>_ping`` and one table ``<name>_rows``."""

    def scs_register(app: App, mcp: FastMCP[Any]) -> None:
        @mcp.tool(name=f"{name}_ping", tags=requires("read"))
        def ping() -> dict[str, Any]:
            return {"success": True, "plugin": name}

    hooks: dict[str, Callable[..., Any]] = {
        "scs_register": scs_register,
        "scs_migrations": lambda: [Migration(1, "rows", f"CREATE TABLE {name}_rows (id INTEGER)")],
    }
    if needs is not None:
        hooks["scs_requires"] = lambda: needs
    return plugin(name, **hooks)


def _boom(app: App, mcp: FastMCP[Any]) -> None:
    raise RuntimeError("boom while registering")


async def _async_migrations() -> list[Migration]:
    return []


def _wrong_name(app: App, mcp: FastMCP[Any]) -> None:
    """Registered as ``scs_regster``: no such hook."""


def _startup(app: App) -> None:
    """A hook other than scs_register, so the plugin has something to be refused for."""


def _wrong_argument(application: App, mcp: FastMCP[Any]) -> None:
    """``application`` is not an argument of the scs_register spec."""


class ClassPlugin:
    """Plugins may also be objects whose methods are hook implementations."""

    @hookimpl
    def scs_register(self, app: App, mcp: FastMCP[Any], extra: int) -> None:
        """``extra`` is not an argument of the spec."""


BAD: dict[str, tuple[Callable[[], PluginInfo], str]] = {
    "wrong-argument": (
        lambda: plugin("bad", scs_register=_wrong_argument),
        "scs_register(application, mcp) takes 'application', which the hook does not "
        "provide (spec: scs_register(app, mcp))",
    ),
    "method-wrong-argument": (
        lambda: PluginInfo("bad", "scs-plugin-bad", "0.0.1", ClassPlugin()),
        "scs_register(app, mcp, extra) takes 'extra'",
    ),
    "unknown-hook": (
        lambda: plugin("bad", scs_regster=_wrong_name),
        "implements unknown hook(s): scs_regster (did you mean scs_register?)",
    ),
    "requirements-raise": (
        lambda: plugin("bad", scs_requires=lambda: [][0]),
        "scs_requires raised IndexError: list index out of range",
    ),
    "requirements-not-a-list": (
        lambda: plugin("bad", scs_requires=lambda: "sessions"),
        "scs_requires must return a list of names, not 'sessions'",
    ),
    "async-where-sync-is-required": (
        lambda: plugin("bad", scs_migrations=_async_migrations),
        "scs_migrations must not be async",
    ),
    "raises-in-register": (
        lambda: plugin("bad", scs_register=_boom),
        "scs_register raised RuntimeError: boom while registering",
    ),
    "unknown-requirement": (
        lambda: tool_plugin("bad", needs=["nonexistent"]),
        "declares an unknown requirement 'nonexistent'",
    ),
    "import-error": (
        lambda: PluginInfo(
            "bad", "scs-plugin-bad", "0.0.1", None, "cannot be imported: ImportError: nope"
        ),
        "cannot be imported: ImportError: nope",
    ),
}


def installed(*plugins: PluginInfo) -> dict[str, PluginInfo]:
    infos = {CORE: PluginInfo(CORE, "scs-server", "0", core_plugin)}
    infos.update({info.name: info for info in plugins})
    return infos


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_strict_mode_stops_start_up_naming_plugin_and_reason(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make, reason = BAD[case]
    settings = make_settings(tmp_path, "good,bad")
    assert settings.plugins_strict is True  # the default
    with pytest.raises(StartupError) as caught:
        await create_app(settings, installed=installed(tool_plugin("good"), make()))
    text = str(caught.value)
    assert text.startswith("plugin 'bad': ")
    assert reason in text
    assert "\n" not in text  # one line, meant for a person


@pytest.mark.parametrize("case", sorted(BAD))
async def test_lenient_mode_starts_with_the_others(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make, reason = BAD[case]
    settings = make_settings(tmp_path, "good,bad", plugins_strict=False)
    app = await create_app(settings, installed=installed(tool_plugin("good"), make()))
    server = ScsServer(app, tmp_path)
    try:
        assert app.plugins == ["good"]
        assert reason in app.host.refused["bad"]
        assert app.tools["good_ping"].plugin == "good"
        assert not [t for t in app.tools.values() if t.plugin == "bad"]
        alice = await server.agent("alice")
        listed = {tool.name for tool in await alice.client.list_tools()}
        assert "good_ping" in listed
        assert "bad_ping" not in listed
        assert await alice.call("good_ping") == {"success": True, "plugin": "good"}
        assert (await alice.fails("bad_ping")).code == "RESOURCE_001"
    finally:
        await server.close()


async def test_lenient_mode_refuses_dependents_of_a_refused_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    infos = installed(
        tool_plugin("good"),
        plugin("broken", scs_register=_boom),
        tool_plugin("child", needs=["broken"]),
        plugin("lateral", scs_requires=lambda: ["broken"], scs_startup=_startup),
    )
    settings = make_settings(tmp_path, "good,broken,child,lateral", plugins_strict=False)
    app = await create_app(settings, installed=infos)
    try:
        assert app.plugins == ["good"]
        assert set(app.host.refused) == {"broken", "child", "lateral"}
        assert "requires plugin 'broken', which was refused" in app.host.refused["child"]
        assert "requires plugin 'broken', which was refused" in app.host.refused["lateral"]
        assert {name for name, policy in app.tools.items() if policy.plugin != CORE} == {
            "good_ping"
        }
    finally:
        await app.close()


async def test_requirement_refused_before_register_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    infos = installed(
        plugin("wrong", scs_register=_wrong_argument), tool_plugin("child", needs=["wrong"])
    )
    with pytest.raises(StartupError, match=r"^plugin 'wrong': "):
        await create_app(make_settings(tmp_path, "wrong,child"), installed=infos)
    app = await create_app(
        make_settings(tmp_path, "wrong,child", plugins_strict=False), installed=infos
    )
    try:
        assert app.plugins == []
        assert "requires plugin 'wrong', which was refused" in app.host.refused["child"]
    finally:
        await app.close()
    assert "child_rows" not in table_names(tmp_path / "scs.db")


async def test_unmet_requirement_names_both_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    infos = installed(tool_plugin("base"), tool_plugin("child", needs=["base"]))
    with pytest.raises(StartupError) as caught:
        await create_app(make_settings(tmp_path, "child"), installed=infos)
    assert str(caught.value) == (
        "plugin 'child': requires plugin 'base', which is not enabled "
        "(add 'base' to SCS_PLUGINS or drop 'child')"
    )


async def test_requirements_order_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    infos = installed(tool_plugin("base"), tool_plugin("child", needs=["base"]))
    app = await create_app(make_settings(tmp_path, "child,base"), installed=infos)
    try:
        assert app.plugins == ["base", "child"]
    finally:
        await app.close()


async def test_refused_plugin_leaves_database_without_its_tables_when_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    infos = installed(tool_plugin("good"), tool_plugin("bad", needs=["nonexistent"]))
    with pytest.raises(StartupError):
        await create_app(make_settings(tmp_path, "good,bad"), installed=infos)
    # refused before the database was touched: nothing of either plugin was created
    database = tmp_path / "scs.db"
    assert not database.exists() or not {"good_rows", "bad_rows"} & table_names(database)


def _raise(*_args: Any) -> Any:
    raise ValueError("hook exploded")


async def _raise_async(app: App) -> None:
    raise ValueError("hook exploded")


@pytest.mark.parametrize(
    "hook", ["scs_migrations", "scs_middleware", "scs_http_routes", "scs_startup"]
)
async def test_a_raising_hook_stops_start_up_naming_the_plugin(
    hook: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    function: Callable[..., Any] = {
        "scs_migrations": lambda: _raise(),
        "scs_middleware": lambda app: _raise(app),
        "scs_http_routes": lambda app: _raise(app),
        "scs_startup": _raise_async,
    }[hook]
    bad = plugin("bad", **{hook: function})
    with pytest.raises(StartupError) as caught:
        await create_app(
            make_settings(tmp_path, "good,bad"), installed=installed(tool_plugin("good"), bad)
        )
    assert str(caught.value) == f"plugin 'bad': {hook} raised ValueError: hook exploded"
