"""What every ``scs`` command shares: one-line errors, settings, running with the App.

Imports here stay light: ``scs --help`` and ``scs version`` must not pay for the server.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scs.app import App
    from scs.settings import Settings

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
    from scs.settings import ConfigError, Settings, load_settings

    try:
        settings: Settings = load_settings(Settings, **overrides)
    except ConfigError as error:
        fail(str(error))
    return settings


def with_app(settings: Settings, work: Callable[[App], Awaitable[T]]) -> T:
    """Open the App on the configured database, run ``work`` with it, close it.

    Commands that run this have the admin's authority: they hold the server's secrets.
    """
    import asyncio

    from scs.app import StartupError, create_app
    from scs.errors import ScsError
    from scs.settings import ConfigError

    async def run_work() -> T:
        app = await create_app(settings)
        try:
            return await work(app)
        finally:
            await app.close()

    try:
        return asyncio.run(run_work())
    except (StartupError, ConfigError) as error:
        fail(str(error), EXIT_FAILED)
    except ScsError as error:
        fail(f"{error.message}" + (f" ({error.hint})" if error.hint else ""))
