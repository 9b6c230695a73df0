"""What refuses a start, light enough for the CLI (``scs token`` must not import the
server): ``StartupError`` and the exposure check. ``scs_server.app`` re-exports both."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scs_server.settings import Settings


class StartupError(Exception):
    """The server cannot start; the text says why in one line."""


def check_exposure(settings: Settings) -> None:
    """Refuse to bind a non-loopback address with generated (unshared) secrets."""
    if settings.transport != "http" or settings.binds_loopback():
        return
    missing = [
        name
        for name, value in (
            ("SCS_API_KEY", settings.api_key),
            (
                "SCS_JWT_SECRET_KEY",
                settings.jwt_secret_key if settings.jwt_algorithm == "HS256" else True,
            ),
        )
        if value is None
    ]
    if missing:
        raise StartupError(
            f"refusing to listen on {settings.host} (not loopback) without "
            f"{' and '.join(missing)} set explicitly; set them or bind 127.0.0.1"
        )
