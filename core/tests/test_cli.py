"""The scs command line: check, plugins, version, token, client-config, secrets, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import jwt
import pytest
from click.testing import CliRunner
from scs_server.cli import cli
from scs_server.cli_tokens import CLIENTS
from scs_server.testing import JWT_SECRET, server_env

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("SCS_"):
            monkeypatch.delenv(name)
    env = server_env(tmp_path)
    env = {k: v for k, v in env.items() if k.startswith("SCS_")}

    def invoke(*args: str, **extra: str):
        return CliRunner().invoke(cli, list(args), env={**env, **extra}, catch_exceptions=False)

    return invoke


def test_help_everywhere(run) -> None:
    for command in (
        [],
        ["serve"],
        ["check"],
        ["plugins"],
        ["token"],
        ["client-config"],
        ["agents"],
        ["agents", "add"],
        ["agents", "list"],
        ["agents", "remove"],
        ["version"],
    ):
        result = run(*command, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.output


def test_check_prints_masked_settings(run, tmp_path: Path) -> None:
    assert run("check", "--fix").exit_code == 0
    result = run("check")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["database"]["status"] == "ok"
    assert report["database"]["path"] == str(tmp_path / "scs.db")
    assert report["database"]["pending_migrations"] == {}
    assert "add_message" in report["tools"] and "authenticate_agent" in report["tools"]
    assert report["settings"]["api_key"] == "**********"
    assert report["plugin_settings"]["search"]  # every enabled plugin's effective settings
    assert set(report["plugin_settings"]) >= {"sessions", "messaging", "memory", "search"}
    assert JWT_SECRET not in result.output


def test_check_changes_nothing_on_disk_unless_fix(run, tmp_path: Path) -> None:
    # `run` cleared SCS_* from the environment and moved into tmp_path (no stray .env)
    data = tmp_path / "fresh"
    env = {"SCS_DATA_DIR": str(data)}
    result = CliRunner().invoke(cli, ["check"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert not data.exists()  # no secrets file, no database, not even the folder
    assert report["database"]["exists"] is False
    assert report["database"]["path"] == str(data / "scs.db")
    assert "core" in report["database"]["pending_migrations"]
    assert "SCS_API_KEY" in result.stderr  # said, not generated
    fixed = CliRunner().invoke(cli, ["check", "--fix"], env=env, catch_exceptions=False)
    assert fixed.exit_code == 0, fixed.output
    assert (data / "secrets.json").exists() and (data / "scs.db").exists()
    assert json.loads(fixed.stdout)["database"]["pending_migrations"] == {}


def test_unknown_scs_variable_is_named_with_closest_match(run) -> None:
    result = run("check", SCS_PLUGIN="default", SCS_SEARCH_NOPE="1")
    assert result.exit_code == 0, result.output
    assert "unknown setting SCS_PLUGIN (ignored); did you mean SCS_PLUGINS?" in result.stderr
    assert "SCS_SEARCH_NOPE" in result.stderr
    quiet = run("check", SCS_PLUGINS="default,-search", SCS_SEARCH_NOPE="1")
    assert "SCS_SEARCH_NOPE" not in quiet.stderr  # a disabled plugin's setting is no typo


def test_check_fails_on_unknown_plugin(run) -> None:
    result = run("check", "--plugins", "default,nope")
    assert result.exit_code != 0
    assert "unknown plugin 'nope'" in result.output


def test_plugins_table_and_json(run) -> None:
    table = run("plugins")
    assert table.exit_code == 0
    assert "sessions" in table.output and "scs-plugin-sessions" in table.output
    rows = json.loads(run("plugins", "--json").output)
    assert {"name", "distribution", "version", "enabled", "hooks", "tools"} <= set(rows[0])
    disabled = {
        r["name"]: r["enabled"]
        for r in json.loads(run("plugins", "--json", SCS_PLUGINS="default,-cache").output)
    }
    assert disabled["cache"] is False and disabled["sessions"] is True


def test_version(run) -> None:
    result = run("version")
    assert result.output.startswith("scs ")
    assert "sessions" in result.output


def test_token_mints_with_configured_key(run) -> None:
    result = run("token", "--agent-id", "wired", "--agent-type", "claude", "--permissions", "read")
    assert result.exit_code == 0
    claims = jwt.decode(result.stdout.strip(), JWT_SECRET, algorithms=["HS256"], audience="scs-mcp")
    assert claims["sub"] == "wired" and claims["permissions"] == ["read"]
    bad = run("token", "--agent-id", "x", "--permissions", "root")
    assert bad.exit_code == 2 and "unknown permission" in bad.output


@pytest.mark.parametrize("client", CLIENTS)
def test_client_config(run, client: str) -> None:
    result = run("client-config", client)
    assert result.exit_code == 0
    if client == "claude":
        assert result.output.startswith(
            "claude mcp add --transport http scs http://127.0.0.1:23456/mcp"
        )
        assert "Authorization: Bearer ey" in result.output
    else:
        snippet = json.loads(result.output.split("\n#")[0])
        assert "scs" in json.dumps(snippet)


def test_secrets_are_strong_and_fresh(run) -> None:
    first = run("secrets").output
    second = run("secrets").output
    assert first != second
    for line in first.splitlines():
        name, value = line.split("=", 1)
        assert name.startswith("SCS_") and len(value) >= 32


def test_generated_secrets_file_is_private(tmp_path: Path, run) -> None:
    import stat

    result = CliRunner().invoke(
        cli, ["token", "--agent-id", "a"], env={"SCS_DATA_DIR": str(tmp_path / "d")}
    )
    assert result.exit_code == 0
    path = tmp_path / "d" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == {"api_key", "admin_api_key", "jwt_secret_key"}
    assert stored["api_key"] not in result.output


def test_refused_plugin_is_not_reported_as_non_strict(tmp_path: Path) -> None:
    # messaging needs sessions: with strict selection (the default) start-up stops, and
    # nothing claims the plugin was merely disabled "(SCS_PLUGINS_STRICT=false)"
    result = subprocess.run(
        [sys.executable, "-m", "scs_server.cli", "serve", "--port", "0"],
        env=server_env(tmp_path, SCS_PLUGINS="default,-sessions"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "scs: error: plugin 'messaging'" in result.stderr
    assert "SCS_PLUGINS_STRICT=false" not in result.stderr
