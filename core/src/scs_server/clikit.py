"""What every ``scs`` command shares: one-line errors, settings, running with the App.

Imports here stay light: ``scs --help`` and ``scs version`` must not pay for the server.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs_server.auth.service import AuthService
    from scs_server.settings import Settings
    from scs_server.storage import Database

CLI_CLIENT = "cli"  # the client address the audit trail records for these commands
T = TypeVar("T")

# exit codes (documented in docs/configuration.md)
EXIT_FAILED = 1  # the command ran and failed (database, start-up, not found)
EXIT_USAGE = 2  # bad input: flags, settings, plugin selection
EXIT_PORT_IN_USE = 3  # scs serve / scs daemon start: the port is taken


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"scs: error: {message}", err=True)
    sys.exit(code)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr (stdout stays machine-readable)."""
    click.echo(f"# {message}", err=True)


def settings_from(**overrides: Any) -> Settings:
    from scs_server.settings import ConfigError, Settings, load_settings

    try:
        settings: Settings = load_settings(Settings, **overrides)
    except ConfigError as error:
        fail(str(error))
    return settings


@dataclass
class AuthApp:
    """What the token and agent commands need: settings, the database (core tables
    only) and the auth service; the plugins are neither imported nor migrated."""

    settings: Settings
    db: Database
    auth: AuthService


def with_auth(settings: Settings, work: Callable[[AuthApp], Awaitable[T]]) -> T:
    """Open the database's auth tables, run ``work``, close.

    Commands that run this have the admin's authority: they hold the server's secrets.
    """
    import asyncio

    from scs_server.auth.secrets import ensure_secrets
    from scs_server.auth.service import AuthService
    from scs_server.auth.store import MIGRATIONS
    from scs_server.errors import ScsError
    from scs_server.migrations import CORE
    from scs_server.startup import StartupError, check_exposure
    from scs_server.storage import MigrationError, open_database

    async def run_work() -> T:
        check_exposure(settings)
        ready = ensure_secrets(settings)
        db = open_database(ready)
        await db.open()
        try:
            await db.migrate(CORE, MIGRATIONS)
            auth = AuthService(ready, db)
            try:
                return await work(AuthApp(ready, db, auth))
            finally:
                await auth.flush_failure_audit()
        finally:
            await db.close()

    try:
        return asyncio.run(run_work())
    except (StartupError, MigrationError, ValueError) as error:
        fail(str(error), EXIT_FAILED)
    except ScsError as error:
        fail(f"{error.message}" + (f" ({error.hint})" if error.hint else ""))
