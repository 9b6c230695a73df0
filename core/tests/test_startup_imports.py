"""What `scs` imports: the light commands import no server, and `scs serve` imports no
client-side or tooling modules (a guard against heavy imports creeping back; no timing)."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_STACK = ("fastmcp", "mcp", "pydantic", "pydantic_settings", "jwt", "uvicorn")
# never needed to serve: client-side MCP, the proxy of `scs connect`, tooling, our CLI-only parts
NOT_FOR_SERVING = (
    "fastmcp.client",
    "fastmcp.server.providers.proxy",
    "copier",
    "pytest",
    "scs.testing",
    "scs.checkup",
)


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


def test_cli_import_loads_no_server_stack() -> None:
    """`scs --help`, `scs version`: click and our CLI modules only."""
    modules = imported("import scs.cli")
    assert "click" in modules and "scs.cli" in modules
    assert under(modules, SERVER_STACK) == []
    assert under(modules, ("scs.app", "scs.runner", "scs_sessions")) == []


def test_serve_import_path_has_no_client_or_tooling_modules() -> None:
    """What `scs serve` imports: the CLI, the runner, the app and every default plugin."""
    modules = imported(
        "import scs.cli, scs.runner\n"
        "from scs.plugins import PluginHost, discover, select\n"
        "infos = discover()\n"
        "PluginHost.create(select('default', infos), infos, strict=True)"
    )
    assert "scs.runner" in modules and "scs_sessions" in modules  # the probe did import them
    assert under(modules, NOT_FOR_SERVING) == []
