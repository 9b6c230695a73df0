"""The leases plugin's commands: ``scs leases`` and ``scs guard install|uninstall|check``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def _live_leases() -> list[dict[str, Any]]:
    import asyncio

    from scs_server.clikit import EXIT_FAILED, fail, settings_from
    from scs_server.storage import MigrationError, open_database
    from scs_server.timestamps import utc_now

    from scs_leases import store

    settings = settings_from()

    async def read() -> list[dict[str, Any]]:
        db = open_database(settings)
        await db.open()
        try:
            await db.migrate("leases", store.MIGRATIONS)
            async with db.read() as r:
                return [lease.to_dict() for lease in await store.live(r, utc_now())]
        finally:
            await db.close()

    try:
        return asyncio.run(read())
    except (MigrationError, ValueError, OSError) as error:
        fail(str(error), EXIT_FAILED)


def add_commands(cli: click.Group) -> None:
    @cli.command("leases")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def leases_command(as_json: bool) -> None:
        """List the live leases (holder, mode, resources, fencing token, expiry)."""
        rows = _live_leases()
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            click.echo("no live leases")
            return
        click.echo(
            f"{'lease_id':<30} {'holder':<20} {'mode':<9} {'token':>7} {'expires_at':<28} resources"
        )
        for row in rows:
            click.echo(
                f"{row['lease_id']:<30} {row['holder']:<20} {row['mode']:<9} "
                f"{row['fencing_token']:>7} {row['expires_at']:<28} {', '.join(row['resources'])}"
            )

    @cli.group("guard")
    def guard_group() -> None:
        """A git pre-commit hook refusing commits on files other agents leased."""

    @guard_group.command("install")
    def guard_install() -> None:
        """Write .git/hooks/pre-commit in this repository (an existing hook is chained)."""
        from scs_server.clikit import EXIT_FAILED, fail

        from scs_leases.guard import GuardError, install

        try:
            click.echo(install())
        except GuardError as error:
            fail(str(error), EXIT_FAILED)

    @guard_group.command("uninstall")
    def guard_uninstall() -> None:
        """Remove the hook (a chained hook is put back)."""
        from scs_server.clikit import EXIT_FAILED, fail

        from scs_leases.guard import GuardError, uninstall

        try:
            click.echo(uninstall())
        except GuardError as error:
            fail(str(error), EXIT_FAILED)

    @guard_group.command("check")
    def guard_check() -> None:
        """Check the staged paths against the server's leases (what the hook runs)."""
        from scs_leases.guard import run_check

        sys.exit(run_check())
