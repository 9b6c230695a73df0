"""The git guard, end to end: `scs guard install` in a real repository, a real
`git commit` refused or let through by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scs_leases.guard import install, uninstall
from scs_server.testing import free_port

if TYPE_CHECKING:
    from scs_server.testing import ScsServer, ServerFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]
SCS = str(Path(sys.executable).parent / "scs")
COMMAND_TIMEOUT_S = 60


async def run(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run a command without blocking the loop (the server answers the hook meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


def base_env(tmp_path: Path) -> dict[str, str]:
    keep = {"PATH", "LANG", "LC_ALL", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(tmp_path / "home"),
        GIT_CONFIG_NOSYSTEM="1",
        SCS_PLUGINS="default",
        SCS_DATA_DIR=str(tmp_path / "cli-data"),
    )
    return env


async def make_repo(tmp_path: Path, env: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (tmp_path / "home").mkdir(exist_ok=True)
    await run("git", "init", "-q", cwd=repo, env=env)
    await run("git", "config", "user.name", "Test", cwd=repo, env=env)
    await run("git", "config", "user.email", "test@example.invalid", cwd=repo, env=env)
    return repo


async def commit(repo: Path, env: dict[str, str], name: str, text: str) -> tuple[int, str]:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    await run("git", "add", name, cwd=repo, env=env)
    return await run("git", "commit", "-q", "-m", f"change {name}", cwd=repo, env=env)


async def test_commit_refused_on_another_agents_lease_and_allowed_otherwise(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    server: ScsServer = await scs_factory(plugins="leases", http=True)
    assert server.url is not None
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    env = base_env(tmp_path)
    repo = await make_repo(tmp_path, env)
    # an existing hook is kept and chained
    hooks = repo / ".git" / "hooks"
    previous = hooks / "pre-commit"
    original = f"#!/bin/sh\necho ran >> '{tmp_path / 'chained.log'}'\n"
    previous.write_text(original)
    previous.chmod(0o755)

    status, out = await run(SCS, "guard", "install", cwd=repo, env=env)
    assert status == 0, out
    assert "existing hook" in out
    assert "already installed" in install(repo)  # idempotent
    assert (hooks / "pre-commit.scs-chained").read_text() == original
    assert "scs-guard" in previous.read_text()

    lease: dict[str, Any] = await bob.call(
        "acquire_lease", resources=["src/**"], reason="bob refactors src"
    )
    env_alice = {**env, "SCS_URL": server.url, "SCS_TOKEN": alice.token}

    status, out = await commit(repo, env_alice, "src/app.py", "print('alice')\n")
    assert status != 0, out
    assert "bob" in out
    assert lease["expires_at"] in out
    assert "src/app.py" in out
    assert "bob refactors src" in out
    status, log = await run("git", "log", "--oneline", cwd=repo, env=env)
    assert "change src/app.py" not in log

    # a file nobody leased: allowed, and the chained hook ran
    await run("git", "reset", "-q", cwd=repo, env=env)
    status, out = await commit(repo, env_alice, "README.md", "hello\n")
    assert status == 0, out
    assert (tmp_path / "chained.log").read_text() == "ran\n"

    # the holder itself may commit
    env_bob = {**env, "SCS_URL": server.url, "SCS_TOKEN": bob.token}
    status, out = await commit(repo, env_bob, "src/app.py", "print('bob')\n")
    assert status == 0, out

    assert "previous hook is back" in uninstall(repo)
    assert (hooks / "pre-commit").read_text() == original


async def test_server_unreachable_warns_and_allows(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    repo = await make_repo(tmp_path, env)
    install(repo)
    unreachable = {
        **env,
        "SCS_URL": f"http://127.0.0.1:{free_port()}/mcp",
        "SCS_TOKEN": "not-checked",
    }
    status, out = await commit(repo, unreachable, "src/app.py", "x = 1\n")
    assert status == 0, out
    assert "warning" in out
    assert "commit allowed" in out
    status, log = await run("git", "log", "--oneline", cwd=repo, env=env)
    assert "change src/app.py" in log


# what a commit must not pay for: the server stack, the MCP SDK and its HTTP client, the
# plugin host and every other plugin (the hook ran `scs guard check` before, which loaded them)
NOT_FOR_THE_HOOK = (
    "fastmcp",
    "mcp",
    "mcp_types",
    "httpx",
    "anyio",
    "pydantic",
    "pydantic_settings",
    "starlette",
    "uvicorn",
    "click",
    "pluggy",
    "scs_server.plugins",
    "scs_server.app",
    "sqlite3",
)
MODULES_MARK = "scs-test-modules:"


async def test_hook_entry_refuses_without_loading_the_server_stack(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    """The hook's command (``python -m scs_leases.guard``) refuses a commit on a path
    leased by another agent, importing none of FastMCP, MCP, pydantic or other plugins."""
    server: ScsServer = await scs_factory(plugins="leases", http=True)
    assert server.url is not None
    alice = await server.agent("alice")
    bob = await server.agent("bob")
    env = base_env(tmp_path)
    repo = await make_repo(tmp_path, env)
    install(repo)
    hook = (repo / ".git" / "hooks" / "pre-commit").read_text()
    assert f'"{sys.executable}" -m scs_leases.guard' in hook
    await bob.call("acquire_lease", resources=["src/**"], reason="bob refactors src")
    (repo / "src" / "app.py").write_text("x = 1\n")
    await run("git", "add", "src/app.py", cwd=repo, env=env)
    probe = (
        "import atexit, json, runpy, sys\n"
        "atexit.register(lambda: print("
        f"{MODULES_MARK!r} + json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "runpy.run_module('scs_leases.guard', run_name='__main__')\n"
    )
    env_alice = {**env, "SCS_URL": server.url, "SCS_TOKEN": alice.token}
    status, out = await run(sys.executable, "-c", probe, cwd=repo, env=env_alice)
    assert status == 10, out  # REFUSED
    assert "held by bob" in out and "src/app.py" in out
    line = next(x for x in out.splitlines() if x.startswith(MODULES_MARK))
    modules: list[str] = json.loads(line.removeprefix(MODULES_MARK))
    assert "scs_leases.light_client" in modules  # it did ask the server
    heavy = [m for m in modules if any(m == r or m.startswith(r + ".") for r in NOT_FOR_THE_HOOK)]
    assert heavy == []
    assert [m for m in modules if m.startswith("scs_") and not m.startswith("scs_leases")] == []

    # the holder's own lease does not refuse it
    env_bob = {**env, "SCS_URL": server.url, "SCS_TOKEN": bob.token}
    status, out = await run(sys.executable, "-m", "scs_leases.guard", cwd=repo, env=env_bob)
    assert status == 0, out

    # a token the server refuses: the check could not run, so the commit is let through
    env_bad = {**env, "SCS_URL": server.url, "SCS_TOKEN": "not.a.token"}
    status, out = await run(sys.executable, "-m", "scs_leases.guard", cwd=repo, env=env_bad)
    assert status == 0, out
    assert "could not check leases" in out and "commit allowed" in out
