"""The third-party plugin story, end to end, from outside the workspace.

Render ``plugin-template/`` with copier, build the rendered package into a wheel,
install it with scs-server and the built-in plugins (from this checkout) into a fresh
virtual environment, then use that environment's ``scs``: the plugin is listed
but disabled; selected through ``.env`` it serves its tools over HTTP and its
migration runs; and the rendered package's own tests pass there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import copier
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from scs_server.plugins import BUILTINS
from scs_server.testing import API_KEY, parse_error, parse_result, server_env, start_server_process

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plugin-template"

NAME = "e2e-notes"
DISTRIBUTION = "scs-plugin-e2e-notes"
ADD = "e2e_notes_add_note"
LIST = "e2e_notes_list_notes"
UV = shutil.which("uv")


def run(
    command: list[str | Path], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded); fail with its output when it fails."""
    result = subprocess.run(
        [os.fspath(part) for part in command],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited with {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without SCS_* settings or the workspace's virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCS_") and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env.update(extra)
    return env


def render(destination: Path, **answers: str) -> Path:
    """Render the template (copied first, so copier never sees this git checkout)."""
    source = destination.parent / f"{destination.name}-template"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    copier.run_copy(
        str(source),
        str(destination),
        data={"plugin_name": NAME, **answers},
        defaults=True,
        unsafe=True,
        quiet=True,
    )
    return destination


def test_template_refuses_bad_and_taken_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lowercase letters"):
        render(tmp_path / "bad", plugin_name="Bad_Name")
    with pytest.raises(ValueError, match="taken by scs"):
        render(tmp_path / "taken", plugin_name="sessions")
    assert not (tmp_path / "bad").exists()
    assert not (tmp_path / "taken").exists()


def test_rendered_package_layout(tmp_path: Path) -> None:
    project = render(tmp_path / "project", scs_source="index")
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {
        "pyproject.toml",
        "README.md",
        ".copier-answers.yml",
        ".github/workflows/ci.yml",
        "src/scs_e2e_notes/plugin.py",
        "src/scs_e2e_notes/settings.py",
        "src/scs_e2e_notes/schema.py",
        "src/scs_e2e_notes/store.py",
        "tests/conftest.py",
        "tests/test_e2e_notes.py",
    } <= files
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "scs-plugin-e2e-notes"' in pyproject
    assert '[project.entry-points.scs]\ne2e-notes = "scs_e2e_notes.plugin"' in pyproject
    assert '"scs-server>=0.1"' in pyproject
    assert "[tool.uv.sources]" not in pyproject  # from the index
    assert (
        'settings_config("SCS_E2E_NOTES_")'
        in (project / "src/scs_e2e_notes/settings.py").read_text()
    )
    assert "plugin_name: e2e-notes" in (project / ".copier-answers.yml").read_text()
    assert "${{ matrix.python-version }}" in (project / ".github/workflows/ci.yml").read_text()
    assert 'pytest_plugins = ["scs_server.testing"]' in (project / "tests/conftest.py").read_text()
    # the wheel uv build makes is named after the distribution, not the import package
    assert "dist/scs_plugin_e2e_notes-0.1.0-py3-none-any.whl" in (project / "README.md").read_text()


def test_defaults_make_a_workspace_member_of_a_checkout(tmp_path: Path) -> None:
    """Rendered with the defaults into plugins/<name> of a clone, uv takes scs from the
    clone's workspace: no path at all, so every clone works (and no CI of its own)."""
    project = render(tmp_path / "project")
    pyproject = (project / "pyproject.toml").read_text()
    assert "scs-server = { workspace = true }" in pyproject
    assert "scs-plugin-sessions = { workspace = true }" in pyproject
    assert "path =" not in pyproject
    assert not (project / ".github").exists()  # the checkout's CI runs plugins/*/tests
    assert "uv sync --all-packages" in (project / "README.md").read_text()


def test_a_checkout_elsewhere_is_relative_and_cloned_by_ci(tmp_path: Path) -> None:
    project = render(
        tmp_path / "project",
        scs_source="path",
        scs_checkout="../scs",
        scs_git_url="https://example.org/scs.git",
    )
    pyproject = (project / "pyproject.toml").read_text()
    assert 'scs-server = { path = "../scs/core", editable = true }' in pyproject
    ci = (project / ".github/workflows/ci.yml").read_text()
    assert ci.index("git clone --depth 1 https://example.org/scs.git ../scs") < ci.index("uv sync")
    with pytest.raises(ValueError, match="relative"):
        render(tmp_path / "absolute", scs_source="path", scs_checkout=str(ROOT))


@pytest.mark.slow
def test_rendered_code_is_lint_clean(tmp_path: Path) -> None:
    project = render(tmp_path / "project", scs_source="index")
    ruff = [sys.executable, "-m", "ruff"]
    run([*ruff, "check", "--no-cache", "."], cwd=project, timeout=60)
    run([*ruff, "format", "--check", "--no-cache", "."], cwd=project, timeout=60)
    run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", "src"],
        cwd=project,
        timeout=400,
    )


# -- the package built, installed and used from a fresh environment -----------


class Installed:
    """The rendered project, its wheel, and a fresh venv holding scs + the plugin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "scs-plugin-e2e-notes"
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.scs = self.venv / "bin" / "scs"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if UV is None:
        pytest.skip("uv is not on PATH (the project is developed and tested with uv)")
    setup = Installed(tmp_path_factory.mktemp("third-party"))
    render(setup.project, scs_source="index")  # installed below from this checkout
    dist = setup.root / "dist"
    run([UV, "build", "--wheel", "--out-dir", dist, setup.project], cwd=setup.root, timeout=180)
    wheels = sorted(dist.glob("scs_plugin_e2e_notes-*.whl"))
    assert len(wheels) == 1, wheels
    # The locked versions as constraints: the proof should not break on an upstream release.
    constraints = setup.root / "constraints.txt"
    exported = run(
        [UV, "export", "--frozen", "--no-hashes", "--no-header", "--no-emit-workspace",
         "--all-packages", "--all-groups"],
        cwd=ROOT,
        timeout=60,
    )  # fmt: skip
    constraints.write_text(exported.stdout)
    run([UV, "venv", "--python", sys.executable, setup.venv], cwd=setup.root, timeout=120)
    run(
        [
            UV, "pip", "install", "--python", setup.python, "--constraint", constraints,
            ROOT / "core", *(ROOT / "plugins" / name for name in BUILTINS), wheels[0],
            "pytest", "pytest-asyncio",
        ],
        cwd=setup.root,
        timeout=300,
    )  # fmt: skip
    return setup


def plugins_json(setup: Installed, cwd: Path) -> dict[str, dict[str, Any]]:
    result = run([setup.scs, "plugins", "--json"], cwd=cwd, env=clean_env(), timeout=120)
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.mark.slow
def test_installed_plugin_is_listed_disabled(installed: Installed) -> None:
    elsewhere = installed.root / "no-dotenv"
    elsewhere.mkdir()
    rows = plugins_json(installed, elsewhere)
    row = rows[NAME]
    assert row["enabled"] is False
    assert row["builtin"] is False
    assert row["distribution"] == DISTRIBUTION
    assert row["version"] == "0.1.0"
    assert row["error"] is None
    assert row["tools"] == [ADD, LIST]
    assert {"scs_migrations", "scs_register", "scs_requires", "scs_settings"} <= set(row["hooks"])
    assert all(rows[name]["enabled"] for name in BUILTINS)


@pytest.mark.slow
async def test_selected_in_dotenv_it_serves_its_tools_and_migrates(
    installed: Installed,
) -> None:
    workdir = installed.root / "served"
    workdir.mkdir()
    (workdir / ".env").write_text(
        f"SCS_PLUGINS=default,{NAME}\nSCS_E2E_NOTES_MAX_NOTE_CHARS=40\n", encoding="utf-8"
    )
    assert plugins_json(installed, workdir)[NAME]["enabled"] is True

    env = server_env(workdir)
    env.pop("VIRTUAL_ENV", None)
    server = start_server_process(workdir, env=env, python=installed.python, timeout=90)
    try:
        assert server.url is not None
        async with Client(StreamableHttpTransport(server.url, headers={"X-API-Key": API_KEY})) as c:
            minted = await c.call_tool("authenticate_agent", {"agent_id": "alice"})
            token = parse_result(minted)["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        async with Client(StreamableHttpTransport(server.url, headers=bearer)) as alice:
            listed = {tool.name for tool in await alice.list_tools()}
            assert {ADD, LIST} <= listed
            added = parse_result(await alice.call_tool(ADD, {"text": "served over HTTP"}))
            assert added["success"] is True
            assert added["note"]["agent_id"] == "alice"  # from the verified token
            too_long = await alice.call_tool(ADD, {"text": "x" * 41}, raise_on_error=False)
            assert too_long.is_error
            error = parse_error(too_long)
            assert error.code == "VALIDATION_001"
            assert "limit is 40" in error.message  # the plugin's setting, read from .env
            notes = parse_result(await alice.call_tool(LIST, {}))["notes"]
            assert [note["text"] for note in notes] == ["served over HTTP"]
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.log()

    with sqlite3.connect(workdir / "scs.db") as conn:
        migrations = conn.execute(
            "SELECT version, name FROM scs_migrations WHERE plugin = ?", (NAME,)
        ).fetchall()
        rows = conn.execute("SELECT agent_id, text FROM e2e_notes_notes").fetchall()
    assert migrations == [(1, "notes table")]
    assert rows == [("alice", "served over HTTP")]


@pytest.mark.slow
def test_rendered_package_own_tests_pass(installed: Installed) -> None:
    result = run(
        [installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=installed.project,
        env=clean_env(),
        timeout=180,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary
    assert "skipped" not in summary
