"""`scs export`, `scs import` and `scs backup` as real commands: the move from SQLite
to PostgreSQL with a signed archive, and an online backup restored by pointing
SCS_DATABASE_PATH at it."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest
from scs_server.testing import sqlite_only

from .conftest import comparable, export_text, scs, seed, team

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.storage.cluster import PostgresCluster
    from scs_server.testing import ServerFactory


@sqlite_only
@pytest.mark.slow
async def test_move_from_sqlite_to_postgresql_with_a_signed_archive(
    scs_factory: ServerFactory, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    source = await scs_factory()  # keeps serving while it is exported
    await seed(source, sessions=3, messages=10)
    sqlite_file = str(source.app.settings.db_path)
    archive, key = tmp_path / "team.ndjson", tmp_path / "archive.key"

    exported = await scs(
        tmp_path, "export", "--out", str(archive), "--sign", str(key),
        SCS_DATABASE_PATH=sqlite_file,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["counts"]["message"] == 30
    assert (tmp_path / "team.ndjson.sig").exists()
    assert (key.stat().st_mode & 0o777) == 0o600

    url = postgres_cluster.create_database()
    imported = await scs(
        tmp_path, "import", str(archive), "--verify", f"{key}.pub", SCS_DATABASE_URL=url
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["sessions_imported"] == 3
    on_postgres = await scs_factory(database_url=url)
    text = archive.read_text(encoding="utf-8")
    assert comparable(await export_text(on_postgres.app)) == comparable(text)

    archive.write_bytes(archive.read_bytes().replace(b"message 1 ", b"massage 1 ", 1))
    refused = await scs(
        tmp_path, "import", str(archive), "--verify", f"{key}.pub", SCS_DATABASE_URL=url
    )
    assert refused.returncode == 1
    assert "signature does not match" in refused.stderr


@sqlite_only
@pytest.mark.slow
async def test_backup_while_serving_is_restorable(
    scs_factory: ServerFactory, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    source = await scs_factory()
    seeded = await seed(source, sessions=2, messages=6)
    copy = tmp_path / "backups" / "copy.db"
    alice = (await team(source))["alice"]
    writing = asyncio.create_task(
        alice.call("add_message", session_id=seeded.sessions[0], content="during the backup")
    )
    done = await scs(
        tmp_path, "backup", str(copy), SCS_DATABASE_PATH=str(source.app.settings.db_path)
    )
    await writing
    assert done.returncode == 0, done.stderr
    assert (copy.stat().st_mode & 0o777) == 0o600

    restored = await scs_factory(database_path=copy)
    copied = comparable(await export_text(restored.app))
    now = comparable(await export_text(source.app))
    # the copy is the database before or after the concurrent message, nothing between
    assert copied == now or len(copied) == len(now) - 1

    again = await scs(tmp_path, "backup", str(copy), SCS_DATABASE_PATH=str(copy))
    assert again.returncode == 1
    assert "exists" in again.stderr
    on_postgres = await scs(
        tmp_path,
        "backup",
        str(tmp_path / "x.db"),
        SCS_DATABASE_URL=postgres_cluster.create_database(),
    )
    assert on_postgres.returncode == 1
    assert "pg_dump" in on_postgres.stderr


@sqlite_only
@pytest.mark.slow
async def test_an_unknown_session_is_refused_and_nothing_is_written(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    source = await scs_factory()
    seeded = await seed(source, sessions=1, messages=2)
    known = seeded.sessions[0]
    env = {"SCS_DATABASE_PATH": str(source.app.settings.db_path)}
    out = tmp_path / "old.ndjson"
    out.write_text("an earlier export", "utf-8")
    out.chmod(0o644)

    refused = await scs(
        tmp_path, "export", "--out", str(out), "--session", known, "--session", "session_nope",
        **env,
    )  # fmt: skip
    assert refused.returncode == 1  # EXIT_FAILED: not found
    assert "session session_nope not found" in refused.stderr
    assert out.read_text("utf-8") == "an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".old")) == []

    combined = await scs(
        tmp_path, "export", "--out", str(out), "--session", known, "--include", "audit", **env
    )
    assert combined.returncode == 2  # EXIT_USAGE: audit belongs to no session
    assert "cannot be combined with --session" in combined.stderr
    assert out.read_text("utf-8") == "an earlier export"

    done = await scs(tmp_path, "export", "--out", str(out), "--session", known, **env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["session"] == 1
    assert (out.stat().st_mode & 0o777) == 0o600  # replaced the 0644 file
