"""Plugin selection: default, -name, unknown names, requirements, duplicates, entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from scs_server import hookimpl
from scs_server.app import StartupError, create_app
from scs_server.plugins import BUILTINS, PluginInfo, SelectionError, discover, normalize, select
from scs_server.testing import make_settings, server_env

if TYPE_CHECKING:
    from pathlib import Path

    from fastmcp import FastMCP
    from scs_server.app import App


def test_builtins_are_found_through_entry_points() -> None:
    found = discover()
    for name in BUILTINS:
        assert found[name].distribution == f"scs-plugin-{name}"
        assert found[name].error is None


def test_selection_grammar() -> None:
    installed = ["core", *BUILTINS, "extra"]
    assert select("default", installed) == list(BUILTINS)
    assert select("default,-ratelimit", installed) == [n for n in BUILTINS if n != "ratelimit"]
    assert select("sessions, messaging", installed) == ["sessions", "messaging"]
    assert select("default,scs-plugin-extra", installed)[-1] == "extra"
    assert select("", installed) == []
    assert normalize("scs_plugin_extra") == "extra"


def test_unknown_plugin_lists_installed() -> None:
    with pytest.raises(SelectionError) as caught:
        select("default,nope", ["core", *BUILTINS])
    assert "'nope'" in str(caught.value)
    assert "sessions" in str(caught.value)


async def test_default_set_registers_builtin_tools(scs_factory: Any) -> None:
    server = await scs_factory()
    assert server.app.plugins == [name for name in server.app.host.enabled if name != "core"]
    assert set(server.app.plugins) == set(BUILTINS)
    assert "authenticate_agent" in server.app.tools


async def test_dropping_a_plugin(scs_factory: Any) -> None:
    server = await scs_factory("default,-ratelimit")
    assert "ratelimit" not in server.app.plugins
    assert "sessions" in server.app.plugins


async def test_missing_requirement_names_both(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as caught:
        await create_app(make_settings(tmp_path, "messaging"))
    text = str(caught.value)
    assert "'messaging'" in text and "'sessions'" in text


class DupA:
    @hookimpl
    def scs_register(self, mcp: FastMCP[Any]) -> None:
        @mcp.tool
        def twin() -> str:
            return "a"


class DupB:
    @hookimpl
    def scs_register(self, mcp: FastMCP[Any]) -> None:
        @mcp.tool
        def twin() -> str:
            return "b"


async def test_duplicate_tool_names_stop_startup(tmp_path: Path) -> None:
    installed = discover()
    installed["dupa"] = PluginInfo("dupa", "scs-plugin-dupa", "0", DupA())
    installed["dupb"] = PluginInfo("dupb", "scs-plugin-dupb", "0", DupB())
    with pytest.raises(StartupError) as caught:
        await create_app(make_settings(tmp_path, "dupa,dupb"), installed=installed)
    text = str(caught.value)
    assert "'twin'" in text and "'dupa'" in text and "'dupb'" in text


DEMO_MODULE = '''
from scs_server import hookimpl, requires


@hookimpl
def scs_register(app, mcp):
    @mcp.tool(tags=requires("read"))
    def demo_ping() -> dict:
        """Answer pong."""
        return {"success": True, "pong": True}


@hookimpl
def scs_commands(cli):
    @cli.command("demo-hello")
    def hello():
        """Say hello from the demo plugin."""
        print("hello from demo")
'''


def install_fake_distribution(root: Path) -> None:
    """A module plus a dist-info with an ``scs`` entry point: enough for importlib.metadata."""
    (root / "scs_demo_plugin.py").write_text(DEMO_MODULE)
    info = root / "scs_plugin_demo-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scs-plugin-demo\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[scs]\ndemo = scs_demo_plugin\n")


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scs_server.cli", *args],
        env=server_env(tmp_path, PYTHONPATH=str(tmp_path / "site"), **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_third_party_entry_point_listed_and_enabled_only_when_selected(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    install_fake_distribution(tmp_path / "site")
    listed = run_cli(tmp_path, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["demo"]["distribution"] == "scs-plugin-demo"
    assert rows["demo"]["version"] == "0.3.0"
    assert rows["demo"]["enabled"] is False
    assert rows["demo"]["tools"] == ["demo_ping"]
    assert rows["demo"]["hooks"] == ["scs_commands", "scs_register"]
    assert rows["sessions"]["enabled"] is True

    selected = run_cli(tmp_path, "plugins", "--json", SCS_PLUGINS="default,demo")
    rows = {row["name"]: row for row in json.loads(selected.stdout)}
    assert rows["demo"]["enabled"] is True

    assert "demo-hello" not in run_cli(tmp_path, "--help").stdout
    hello = run_cli(tmp_path, "demo-hello", SCS_PLUGINS="default,demo")
    assert hello.returncode == 0 and hello.stdout.strip() == "hello from demo"


async def test_third_party_runs_only_when_selected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scs_factory: Any
) -> None:
    (tmp_path / "site").mkdir()
    install_fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    without = await scs_factory("default")
    assert "demo_ping" not in without.app.tools
    with_demo = await scs_factory("default,demo")
    agent = await with_demo.agent("alice")
    assert await agent.call("demo_ping") == {"success": True, "pong": True}


class Needy:
    """Needs the sessions service without declaring the requirement."""

    @hookimpl
    def scs_register(self, app: App) -> None:
        from scs_sessions.service import Sessions

        app.services.get(Sessions, needed_by="needy")


async def test_services_are_typed_and_a_missing_one_names_who_needs_it(
    tmp_path: Path, scs_factory: Any
) -> None:
    from scs_messaging.messages import Messaging
    from scs_server.services import MissingServiceError, Services
    from scs_sessions.service import MessageReader, Sessions

    server = await scs_factory("sessions,messaging")
    sessions = server.app.services.get(Sessions, needed_by="test")
    assert isinstance(sessions, Sessions)
    assert server.app.services.provider(Sessions) == "sessions"
    reader = server.app.services.get(MessageReader, needed_by="test")  # keyed by a Protocol
    assert reader is server.app.services.get(Messaging, needed_by="test")

    empty = Services()
    with pytest.raises(MissingServiceError) as caught:
        empty.get(Sessions, needed_by="search")
    assert str(caught.value).startswith(
        "plugin 'search' needs service Sessions, which no enabled plugin provides"
    )
    assert empty.find(Sessions) is None

    installed = discover()
    installed["needy"] = PluginInfo("needy", "scs-plugin-needy", "0", Needy())
    with pytest.raises(StartupError) as startup:
        await create_app(make_settings(tmp_path, "needy"), installed=installed)
    assert str(startup.value).startswith(
        "plugin 'needy': scs_register raised MissingServiceError: plugin 'needy' needs "
        "service Sessions, which no enabled plugin provides"
    )


async def test_a_plugin_cannot_take_over_another_plugins_service(scs_factory: Any) -> None:
    from scs_sessions.service import Sessions

    server = await scs_factory("sessions")
    with pytest.raises(ValueError, match="provided by plugin 'sessions' already"):
        server.app.services.provide(Sessions, object(), by="intruder")  # type: ignore[arg-type]


BROKEN_MODULE = '''
import os
from pathlib import Path

from scs_server import Migration, hookimpl, requires


def mark(what):
    if os.environ.get("BROKEN_MARKS"):
        Path(os.environ["BROKEN_MARKS"], what).write_text("ran")


@hookimpl
def scs_migrations():
    mark("migrations")
    return [Migration(1, "rows", "CREATE TABLE broken_rows (id INTEGER)")]


@hookimpl
def scs_register(app, mcp):
    @mcp.tool(tags=requires("read"))
    def broken_ping() -> dict:
        """Answer pong."""
        return {"success": True}


@hookimpl
def scs_startup(app):
    mark("startup")


@hookimpl
def scs_commands(cli):
    raise RuntimeError("no commands today")
'''


def install_broken_distribution(root: Path) -> None:
    (root / "scs_broken_plugin.py").write_text(BROKEN_MODULE)
    info = root / "scs_plugin_broken-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: scs-plugin-broken\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[scs]\nbroken = scs_broken_plugin\n")


@pytest.mark.slow
def test_plugins_listing_touches_no_database(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    install_broken_distribution(tmp_path / "site")
    data = tmp_path / "fresh"
    marks = tmp_path / "marks"
    marks.mkdir()
    listed = run_cli(
        tmp_path,
        "plugins",
        "--json",
        SCS_DATA_DIR=str(data),
        SCS_DATABASE_PATH=str(data / "scs.db"),
        BROKEN_MARKS=str(marks),
    )
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["broken"]["tools"] == ["broken_ping"]  # its FastMCP child was built
    assert "get_messages" in rows["messaging"]["tools"]
    # no database, no secrets: nothing at all under the data dir
    assert not data.exists() or list(data.iterdir()) == []
    assert sorted(p.name for p in marks.iterdir()) == []  # neither migrations nor start-up ran


@pytest.mark.slow
def test_a_plugin_whose_commands_fail_is_named(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    install_broken_distribution(tmp_path / "site")
    install_fake_distribution(tmp_path / "site")
    result = run_cli(tmp_path, "demo-hello", SCS_PLUGINS="default,broken,demo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from demo"  # the others' commands still load
    assert (
        "scs: plugin 'broken': commands not loaded: scs_commands raised RuntimeError: "
        "no commands today" in result.stderr
    )
