"""`scs export`, `scs import` and `scs backup` (added through ``scs_commands``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs_server.app import App


def _with_app(work: Callable[[App], Awaitable[Any]]) -> Any:
    """Build the app (plugins, migrations) as `scs serve` would, run ``work``, close."""
    import asyncio

    from scs_server.app import StartupError, create_app
    from scs_server.clikit import EXIT_FAILED, fail, settings_from
    from scs_server.errors import ScsError

    async def run() -> Any:
        app = await create_app(settings_from())
        try:
            return await work(app)
        finally:
            await app.close()

    try:
        return asyncio.run(run())
    except StartupError as error:
        fail(str(error), EXIT_FAILED)
    except ScsError as error:
        fail(error.message + (f" ({error.hint})" if error.hint else ""), EXIT_FAILED)


def _progress(count: int) -> None:
    click.echo(f"\r# {count} records", err=True, nl=False)


def add(cli: click.Group) -> None:
    @cli.command("export")
    @click.option("--out", "out", type=click.Path(path_type=Path), required=True)
    @click.option("--session", "sessions", multiple=True, help="Only this session (repeat).")
    @click.option("--since", help="Only what was created at or after this ISO time.")
    @click.option(
        "--include",
        default="",
        help="Optional kinds, comma-separated: leases, audit (memory is always in).",
    )
    @click.option("--sign", "keyfile", type=click.Path(path_type=Path), help="Ed25519 key file.")
    def export_command(
        out: Path, sessions: tuple[str, ...], since: str | None, include: str, keyfile: Path | None
    ) -> None:
        """Write sessions, messages, memory (and audit) to OUT as NDJSON, from one
        consistent snapshot, while the server keeps serving."""
        from scs_server.clikit import fail
        from scs_server.errors import ScsError
        from scs_server.timestamps import iso_timestamp, parse_iso

        from scs_archive import exporter, signing
        from scs_archive.private_files import replacing

        kinds = frozenset(k.strip() for k in include.split(",") if k.strip())
        unknown = kinds - exporter.OPTIONAL_KINDS.keys()
        if unknown:
            fail(f"--include: unknown kind(s) {', '.join(sorted(unknown))}")
        if sessions and kinds & exporter.GLOBAL_KINDS:
            fail(
                f"--include {', '.join(sorted(kinds & exporter.GLOBAL_KINDS))} cannot be"
                " combined with --session (they belong to no session)"
            )
        try:
            since_iso = iso_timestamp(parse_iso(since, "--since")) if since else None
        except ScsError as error:
            fail(error.message)
        if not out.parent.is_dir():
            fail(f"--out: no folder {out.parent}")
        options = exporter.ExportOptions(list(sessions) or None, since_iso, kinds)
        progress = _progress if sys.stderr.isatty() else None

        async def work(app: App) -> dict[str, Any]:
            # written next to OUT, mode 0600, renamed over it only when complete
            with replacing(out) as stream:
                return await exporter.write(app, stream, options, progress=progress)

        header = _with_app(work)
        if progress is not None:
            click.echo("", err=True)
        if keyfile is not None:
            click.echo(f"# signature: {signing.sign(out, keyfile)}", err=True)
        click.echo(json.dumps(header))

    @cli.command("import")
    @click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
    @click.option(
        "--on-conflict",
        type=click.Choice(["skip", "fail", "rename"]),
        default="skip",
        show_default=True,
        help="A session id taken by another session: skip it, stop, or give it a new id.",
    )
    @click.option("--dry-run", is_flag=True, help="Check the whole file; write nothing.")
    @click.option("--verify", "pubfile", type=click.Path(path_type=Path, exists=True))
    def import_command(file: Path, on_conflict: str, dry_run: bool, pubfile: Path | None) -> None:
        """Import an archive written by `scs export` (checked whole before writing)."""
        from scs_archive import importer, signing

        async def work(app: App) -> dict[str, Any]:
            if pubfile is not None:
                signing.verify(file, pubfile)
            report = await importer.run(
                app,
                file,
                on_conflict=on_conflict,  # type: ignore[arg-type]
                dry_run=dry_run,
            )
            return report.as_dict()

        click.echo(json.dumps(_with_app(work)))

    @cli.command("backup")
    @click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
    def backup_command(path: Path) -> None:
        """Copy the SQLite database to PATH while it serves (restore: point
        SCS_DATABASE_PATH at the copy). PostgreSQL: use pg_dump."""
        import asyncio

        from scs_server.clikit import EXIT_FAILED, fail, settings_from
        from scs_server.storage import open_database

        settings = settings_from()
        if settings.database_url is not None:
            fail(
                "scs backup copies SQLite databases; for PostgreSQL use pg_dump "
                "(https://www.postgresql.org/docs/current/app-pgdump.html) or scs export",
                EXIT_FAILED,
            )
        if not settings.db_path.exists():
            fail(f"no database at {settings.db_path}", EXIT_FAILED)
        if path.exists():
            fail(f"{path} exists; choose a new file", EXIT_FAILED)

        async def copy() -> None:
            db = open_database(settings)
            await db.open()
            try:
                await db.backup(path)
            finally:
                await db.close()

        asyncio.run(copy())
        click.echo(f"backed up {settings.db_path} to {path}")
