"""Export and import throughput (messages/s) and peak RSS of the archive plugin.

    uv run python bench/archive_bench.py                 # 100k messages, SQLite
    uv run python bench/archive_bench.py --messages 20000
    uv run python bench/archive_bench.py --messages 20000 --engine postgresql   # or both

Each phase runs in its own process so that its peak RSS (``ru_maxrss``) is its own:
``floor`` builds the app and reads every message row through the data API in keyset
pages (the read floor, and the RSS of an app doing nothing big); ``import`` imports a
generated archive of N messages in 10 sessions; ``export`` writes it back out.
``--engine postgresql`` runs the same phases on a fresh database of a throwaway cluster
(the system's PostgreSQL binaries). Figures: bench/README.md ("archive_bench.py").
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SESSIONS = 10


def generate(path: Path, messages: int) -> None:
    """An archive of ``messages`` messages (every visibility, threads, unicode metadata)."""
    per_session = messages // SESSIONS
    body = io.BytesIO()
    counts = {"session": SESSIONS, "message": per_session * SESSIONS}
    with path.open("wb") as out:
        header = {
            "kind": "header",
            "format": 1,
            "scs_version": "bench",
            "origin": "bench",
            "exported_at": "2026-11-30T00:00:00.000000Z",
            "counts": counts,
            "records": sum(counts.values()),
        }
        out.write((json.dumps(header) + "\n").encode())
        for s in range(SESSIONS):
            sid = f"session_bench{s:04d}"
            session = {
                "kind": "session", "id": sid, "purpose": f"bench {s}", "metadata": None,
                "created_by": "bench", "created_by_type": "claude",
                "created_at": "2026-11-30T00:00:00.000000Z",
                "updated_at": "2026-11-30T00:00:00.000000Z", "closed_at": None,
            }  # fmt: skip
            out.write((json.dumps(session, ensure_ascii=False) + "\n").encode())
            for i in range(per_session):
                n = s * per_session + i + 1
                message = {
                    "kind": "message", "id": n, "session_id": sid, "sender": f"agent{i % 7}",
                    "sender_type": "claude", "content": f"message {i} — héllo 🌍 " * 4,
                    "visibility": ("public", "private", "agent_only", "admin_only")[i % 4],
                    "metadata": json.dumps({"i": i, "é": "✨"}, ensure_ascii=False),
                    "parent_id": n - 1 if i % 3 == 2 else None,
                    "timestamp": f"2026-11-30T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}000Z",
                }  # fmt: skip
                out.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
    del body


async def phase(name: str, folder: Path, archive: Path, url: str | None) -> dict[str, Any]:
    from scs_archive import exporter, importer
    from scs_server.app import create_app
    from scs_server.testing import make_settings

    app = await create_app(make_settings(folder, database_url=url))
    try:
        started = time.perf_counter()
        if name == "import":
            report = await importer.run(app, archive)
            count = report.imported["message"]
        elif name == "export":
            with (folder / "out.ndjson").open("wb") as out:
                header = await exporter.write(app, out, exporter.ExportOptions())
            count = header["counts"]["message"]
        else:  # floor: read every message row in keyset pages, no encoding
            count, after = 0, 0
            async with app.db.read(snapshot=True) as reader:
                while True:
                    rows = await reader.fetch_all(
                        "SELECT * FROM messaging_messages WHERE id > ? ORDER BY id LIMIT 500",
                        (after,),
                    )
                    count += len(rows)
                    if len(rows) < 500:
                        break
                    after = rows[-1]["id"]
        seconds = time.perf_counter() - started
    finally:
        await app.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"phase": name, "messages": count, "seconds": round(seconds, 3),
            "messages_per_s": round(count / seconds), "peak_rss_mib": round(peak / 1024, 1)}  # fmt: skip


def run_engine(engine: str, archive: Path, url: str | None) -> list[dict[str, Any]]:
    """The three phases on one fresh database; each in its own process."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in.ndjson").symlink_to(archive)
        for name in ("import", "floor", "export"):
            command = [sys.executable, __file__, "--phase", name, "--folder", str(folder)]
            if url is not None:
                command += ["--url", url]
            done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
            results.append({"engine": engine, **json.loads(done.stdout)})
            print(json.dumps(results[-1]))
    floor = results[1]["messages_per_s"]
    print(json.dumps({"engine": engine,
                      "export_vs_read_floor": round(results[2]["messages_per_s"] / floor, 3),
                      "import_vs_read_floor": round(results[0]["messages_per_s"] / floor, 3),
                      "load_average": [round(x, 1) for x in os.getloadavg()]}))  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--phase", choices=["floor", "import", "export"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--url", help="PostgreSQL URL (phases only)")
    args = parser.parse_args()
    if args.phase:
        result = asyncio.run(phase(args.phase, args.folder, args.folder / "in.ndjson", args.url))
        print(json.dumps(result))
        return
    print(f"# load average before: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "in.ndjson"
        generate(archive, args.messages)
        size = archive.stat().st_size
        print(f"# archive: {args.messages} messages, {size / 2**20:.1f} MiB", file=sys.stderr)
        if args.engine in ("sqlite", "both"):
            run_engine("sqlite", archive, None)
        if args.engine in ("postgresql", "both"):
            from scs_server.storage.cluster import PostgresCluster, find_binaries

            binaries = find_binaries()
            if binaries is None:
                sys.exit("no PostgreSQL binaries (initdb) found")
            cluster = PostgresCluster(binaries)
            cluster.start()
            try:
                run_engine("postgresql", archive, cluster.create_database())
            finally:
                cluster.destroy()


if __name__ == "__main__":
    main()
