"""The git guard: a pre-commit hook that refuses commits touching files another agent
holds an exclusive lease on.

``install`` writes ``<hooks dir>/pre-commit`` (the directory git itself uses, so
``core.hooksPath`` and worktrees are honoured). An existing hook that is not ours is
kept: it is renamed ``pre-commit.scs-chained`` and run after the check, with the same
arguments, so both must pass. Installing twice changes nothing; ``uninstall`` removes
our hook and puts a chained one back.

``check`` (what the hook runs: ``python -m scs_leases.guard``, the same as ``scs guard
check`` without loading every plugin's commands) asks the server at ``SCS_URL`` with
``SCS_TOKEN`` over MCP (``scs_leases.light_client``: standard library only, so that a
commit does not import FastMCP): ``check_leases(staged paths, mode="shared")`` lists the
exclusive leases of other agents on those paths. Any of them refuses the commit with a
message naming holder, paths and expiry. When there is no answer (server down, no token, token refused) the
hook warns on stderr and lets the commit through: the guard is advisory and must never
lock people out of their repository.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "# scs-guard: managed by `scs guard install`"
CHAINED = "pre-commit.scs-chained"
DEFAULT_URL = "http://127.0.0.1:23456/mcp"
CHECK_TIMEOUT_S = 10.0  # per network operation; the whole check: at most twice that
BATCH = 100  # the server's default max_resources per request
REFUSED = 10  # exit status of ``check`` that refuses the commit; any other failure allows it


class GuardError(Exception):
    """The guard cannot be installed or removed here (message for the person)."""


def _git(*args: str, cwd: Path | None = None) -> bytes:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30
        ).stdout
    except FileNotFoundError:
        raise GuardError("git is not installed") from None
    except subprocess.CalledProcessError as error:
        raise GuardError(error.stderr.decode(errors="replace").strip() or "git failed") from None


def hooks_dir(cwd: Path | None = None) -> Path:
    """The hooks directory git uses for the repository at ``cwd``."""
    raw = _git("rev-parse", "--git-path", "hooks", cwd=cwd).decode().strip()
    path = Path(raw)
    return path if path.is_absolute() else (cwd or Path.cwd()) / path


def _check_command() -> str:
    """What the hook runs: this module, with the Python of the installation that wrote
    it (not ``scs guard check``: the ``scs`` command line loads every enabled plugin's
    commands, and they import FastMCP, seconds before every commit)."""
    return f'"{sys.executable}" -m scs_leases.guard'


def hook_script() -> str:
    return f"""#!/bin/sh
{MARKER}
# Refuses a commit touching files another agent leased exclusively (SCS_URL, SCS_TOKEN).
# Server unreachable: a warning, and the commit goes through. Remove: scs guard uninstall
{_check_command()}
status=$?
if [ "$status" -eq {REFUSED} ]; then
    exit 1
elif [ "$status" -ne 0 ]; then
    echo "scs guard: warning: the lease check could not run (exit $status); commit allowed" >&2
fi
hook_dir=$(dirname "$0")
if [ -x "$hook_dir/{CHAINED}" ]; then
    exec "$hook_dir/{CHAINED}" "$@"
fi
exit 0
"""


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def install(cwd: Path | None = None) -> str:
    """Write the hook; return what was done (for the person)."""
    directory = hooks_dir(cwd)
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / "pre-commit"
    chained = directory / CHAINED
    note = "installed"
    if hook.exists() or hook.is_symlink():
        if _is_ours(hook):
            note = "already installed (rewritten)"
        elif chained.exists():
            raise GuardError(
                f"{hook} is not ours and {chained} exists already; "
                "merge them by hand, then run scs guard install again"
            )
        else:
            hook.rename(chained)
            note = f"installed; your existing hook now runs after the check ({chained.name})"
    hook.write_text(hook_script())
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return f"{note}: {hook}"


def uninstall(cwd: Path | None = None) -> str:
    directory = hooks_dir(cwd)
    hook = directory / "pre-commit"
    chained = directory / CHAINED
    if not hook.exists():
        return "no pre-commit hook: nothing to remove"
    if not _is_ours(hook):
        raise GuardError(f"{hook} was not written by scs guard; left as it is")
    hook.unlink()
    if chained.exists():
        chained.rename(hook)
        return f"removed; your previous hook is back at {hook}"
    return f"removed {hook}"


def staged_paths(cwd: Path | None = None) -> list[str]:
    raw = _git("diff", "--cached", "--name-only", "-z", cwd=cwd)
    return [name for name in raw.decode(errors="surrogateescape").split("\0") if name]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str


def _ask(url: str, token: str, paths: list[str]) -> list[dict[str, Any]]:
    from scs_leases.light_client import LightClient

    conflicts: list[dict[str, Any]] = []
    with LightClient(url, token, timeout=CHECK_TIMEOUT_S) as client:
        for start in range(0, len(paths), BATCH):
            data = client.call_tool(
                "check_leases", {"resources": paths[start : start + BATCH], "mode": "shared"}
            )
            conflicts.extend(c for c in data.get("conflicts", []) if c.get("why") == "exclusive")
    return conflicts


def _refusal(conflicts: list[dict[str, Any]]) -> str:
    lines = ["scs guard: commit refused, these files are leased exclusively by another agent:"]
    for conflict in conflicts:
        reason = f" ({conflict['reason']})" if conflict.get("reason") else ""
        lines.append(
            f"  {', '.join(conflict['requested'])}: held by {conflict['holder']} until "
            f"{conflict['expires_at']}{reason} [lease {conflict['lease_id']}]"
        )
    lines.append("Wait for the lease to end, ask its holder, or commit other files.")
    return "\n".join(lines)


def check(paths: list[str], url: str | None = None, token: str | None = None) -> Verdict:
    """Whether a commit of ``paths`` may go ahead, and what to tell the person."""
    if not paths:
        return Verdict(True, "")
    url = url or os.environ.get("SCS_URL") or DEFAULT_URL
    token = token or os.environ.get("SCS_TOKEN")
    if not token:
        return Verdict(True, "scs guard: warning: SCS_TOKEN is not set; leases not checked")
    try:
        conflicts = _ask(url, token, paths)
    except Exception as error:  # unreachable, refused, timed out: advisory, let it through
        return Verdict(
            True,
            f"scs guard: warning: could not check leases at {url} "
            f"({type(error).__name__}: {str(error)[:200]}); commit allowed",
        )
    if conflicts:
        return Verdict(False, _refusal(conflicts))
    return Verdict(True, "")


def run_check() -> int:
    """The hook's entry point: exit status 0 (commit) or ``REFUSED``; the hook treats
    every other status (a crash, a missing command) as "could not check": allowed."""
    try:
        paths = staged_paths()
    except GuardError as error:
        print(f"scs guard: warning: {error}; commit allowed", file=sys.stderr)
        return 0
    verdict = check(paths)
    if verdict.message:
        print(verdict.message, file=sys.stderr)
    return 0 if verdict.allowed else REFUSED


if __name__ == "__main__":
    sys.exit(run_check())
