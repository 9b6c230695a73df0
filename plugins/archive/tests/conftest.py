"""Shared helpers of the archive tests: seeding a history through MCP, exporting to
text, importing text, and comparing exports apart from remapped message ids."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scs_archive import exporter, importer
from scs_server.testing import server_env

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.app import App
    from scs_server.testing import Agent, ScsServer

VISIBILITIES = ("public", "private", "agent_only", "admin_only")
# the real command line, under a permissive umask (what it writes must be 0600 anyway)
SCS = [sys.executable, "-c", "import os; os.umask(0o002); from scs_server.cli import main; main()"]


async def scs(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``scs ARGS`` in a subprocess with the test secrets and ``env``."""
    return await asyncio.to_thread(
        subprocess.run,
        [*SCS, *args],
        env=server_env(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Seeded:
    sessions: list[str] = field(default_factory=list)
    messages: int = 0


async def team(server: ScsServer) -> dict[str, Agent]:
    return {
        "alice": await server.agent("alice"),
        "bob": await server.agent("bob", agent_type="cursor"),
        "boss": await server.agent("boss", agent_type="admin"),
    }


async def seed(server: ScsServer, sessions: int = 3, messages: int = 50) -> Seeded:
    """Sessions with every visibility, threads, unicode metadata, and memory with TTLs."""
    agents = await team(server)
    names = list(agents)
    seeded = Seeded()
    for s in range(sessions):
        created = await agents["alice"].call(
            "create_session", purpose=f"projet n°{s} ✓", metadata={"lang": "日本語", "n": s}
        )
        session_id = created["session_id"]
        seeded.sessions.append(session_id)
        ids: list[int] = []
        for i in range(messages):
            visibility = VISIBILITIES[i % 4]
            sender = "boss" if visibility == "admin_only" else names[i % 2]
            arguments: dict[str, Any] = {
                "session_id": session_id,
                "content": f"message {i} — héllo 🌍",
                "visibility": visibility,
            }
            if i % 2:
                arguments["metadata"] = {"émoji": "✨", "i": i}
            if i % 3 == 2 and ids:  # a reply to the latest public message
                arguments["parent_message_id"] = ids[-1]
            added = await agents[sender].call("add_message", **arguments)
            if visibility == "public":
                ids.append(added["message_id"])
            seeded.messages += 1
        await agents["alice"].call(
            "set_memory", key=f"notes-{s}", value={"ü": s}, session_id=session_id, expires_in=3600
        )
    await agents["bob"].call("set_memory", key="global", value=["π", 3.14], expires_in=7200)
    await agents["alice"].call("set_memory", key="forever", value="kept")
    return seeded


async def export_text(app: App, **options: Any) -> str:
    out = io.BytesIO()
    await exporter.write(app, out, exporter.ExportOptions(**options))
    return out.getvalue().decode("utf-8")


async def import_text(app: App, text: str, path: Path, **options: Any) -> importer.ImportReport:
    path.write_bytes(text.encode("utf-8"))
    return await importer.run(app, path, **options)


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.split("\n") if line]  # not splitlines: U+2028


def comparable(text: str) -> list[dict[str, Any]]:
    """The records without the header's per-export fields, message ids replaced by their
    position in their session (ids are assigned by the importing database)."""
    out: list[dict[str, Any]] = []
    position: dict[int, int] = {}
    for record in records(text):
        record = dict(record)
        if record["kind"] == "header":
            for name in ("origin", "exported_at"):
                record.pop(name)
        elif record["kind"] == "session":
            position = {}
        elif record["kind"] == "message":
            position[record["id"]] = len(position)
            record["id"] = position[record["id"]]
            if record["parent_id"] is not None:
                record["parent_id"] = position[record["parent_id"]]
        out.append(record)
    return out


async def row_counts(app: App) -> dict[str, int]:
    counts = {}
    for table in ("sessions_sessions", "messaging_messages", "memory_entries", "scs_audit"):
        counts[table] = int(await app.db.fetch_value(f"SELECT COUNT(*) FROM {table}"))
    return counts
