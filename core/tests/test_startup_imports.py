"""What `scs` imports: the light commands import no server, and `scs serve` imports no
client-side or tooling modules (a guard against heavy imports creeping back; no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from scs_server.testing import server_env

if TYPE_CHECKING:
    from pathlib import Path

SERVER_STACK = ("fastmcp", "mcp", "pydantic", "pydantic_settings", "jwt", "uvicorn")
# never needed to serve: client-side MCP, the proxy of `scs connect`, tooling, our CLI-only parts
NOT_FOR_SERVING = (
    "fastmcp.client",
    "fastmcp.server.providers.proxy",
    "copier",
    "pytest",
    "scs_server.testing",
    "scs_server.checkup",
)
# never needed by `scs --help`, `scs version`, `scs token`: the server, its transports, the
# client side, JOSE beyond PyJWT, numpy (search)
NOT_FOR_LIGHT_COMMANDS = (
    "fastmcp",
    "mcp",
    "mcp_types",
    "uvicorn",
    "starlette",
    "httpx",
    "joserfc",
    "authlib",
    "numpy",
    "scs_server.app",
    "scs_server.runner",
    "scs_server.middleware",
    "scs_server.calls",
)
MODULES_MARK = "scs-test-modules:"


def imported(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def under(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)]


def command_state(tmp_path: Path, *args: str) -> dict[str, Any]:
    """What ``scs ARGS`` left at exit: ``modules`` loaded and whether ``gc`` was on (it
    ran for real, on a fresh data dir, which is also its working directory: no ``.env``)."""
    code = (
        "import atexit, gc, json, sys\n"
        "atexit.register(lambda: print("
        f"{MODULES_MARK!r} + json.dumps("
        "{'modules': sorted(sys.modules), 'gc': gc.isenabled()}), file=sys.stderr))\n"
        f"sys.argv = ['scs', *{list(args)!r}]\n"
        "from scs_server.cli import main\n"
        "main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=server_env(tmp_path),
        cwd=tmp_path,
        check=True,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith(MODULES_MARK))
    state: dict[str, Any] = json.loads(line.removeprefix(MODULES_MARK))
    return state


def command_imports(tmp_path: Path, *args: str) -> list[str]:
    """The modules loaded by the time ``scs ARGS`` exits."""
    modules: list[str] = command_state(tmp_path, *args)["modules"]
    return modules


def plugin_modules(modules: list[str]) -> list[str]:
    """Plugin modules (``scs_<plugin>``; the core is ``scs_server``)."""
    core = ("scs_server", "scs_server.")
    return [m for m in modules if m.startswith("scs_") and not m.startswith(core)]


def test_cli_import_loads_no_server_stack() -> None:
    """`scs --help`, `scs version`: click and our CLI modules only."""
    modules = imported("import scs_server.cli")
    assert "click" in modules and "scs_server.cli" in modules
    assert under(modules, SERVER_STACK) == []
    assert under(modules, ("scs_server.app", "scs_server.runner", "scs_sessions")) == []


def test_serve_import_path_has_no_client_or_tooling_modules() -> None:
    """What `scs serve` imports: the CLI, the runner, the app and every default plugin."""
    modules = imported(
        "import scs_server.cli, scs_server.runner\n"
        "from scs_server.plugins import PluginHost, discover, select\n"
        "infos = discover()\n"
        "PluginHost.create(select('default', infos), infos, strict=True)"
    )
    assert "scs_server.runner" in modules and "scs_sessions" in modules  # the probe did import them
    assert under(modules, NOT_FOR_SERVING) == []


# never needed by `scs token` either: HS256 minting is scs_server.auth.hs256 (hmac), PyJWT
# and `cryptography` only verify; the core's name comes without the plugin host (pluggy);
# the settings are read by scs_server.envsettings, not pydantic-settings (~0.1 s), and
# python-dotenv is imported only when there is a .env file
NOT_FOR_MINTING = (
    "jwt",
    "cryptography",
    "pluggy",
    "scs_server.plugins",
    "http.client",
    "pydantic_settings",
    "dotenv",
)


def test_scs_token_imports_no_server(tmp_path: Path) -> None:
    """`scs token` mints for real (database, secrets, the HS256 encoder) without FastMCP,
    MCP, PyJWT or any plugin: its refusals (ScsError) do not need FastMCP."""
    modules = command_imports(tmp_path, "token", "--agent-id", "light-one", "--ttl", "1d")
    assert (
        "scs_server.auth.service" in modules and "scs_server.auth.hs256" in modules
    )  # it did mint
    assert "scs_server.envsettings" in modules  # and read its settings
    assert "scs_server.errors" in modules
    assert under(modules, NOT_FOR_LIGHT_COMMANDS) == []
    assert under(modules, NOT_FOR_MINTING) == []
    assert plugin_modules(modules) == []


def test_scs_version_and_help_import_no_server(tmp_path: Path) -> None:
    for args in (("version",), ("--help",)):
        modules = command_imports(tmp_path, *args)
        assert "scs_server.cli" in modules
        light = (*NOT_FOR_LIGHT_COMMANDS, "jwt", "cryptography", "http.client", "pydantic")
        assert under(modules, light) == [], args
        assert plugin_modules(modules) == [], args


def test_short_commands_run_without_garbage_collection(tmp_path: Path) -> None:
    """`scs token` runs with the cyclic collector off (its start-up allocations would
    trigger collections worth ~3 % of its instructions); a command that keeps running
    turns it back on."""
    assert command_state(tmp_path, "token", "--agent-id", "no-gc")["gc"] is False
    assert command_state(tmp_path, "version")["gc"] is False
    assert command_state(tmp_path, "connect", "--help")["gc"] is True
