"""Secure by default: generate missing secrets once, into a 0600 file in the data dir."""

from __future__ import annotations

import json
import logging
import os
import secrets
from typing import TYPE_CHECKING

from pydantic import SecretStr

from scs_server.files import make_private_dir
from scs_server.settings import check_secret

if TYPE_CHECKING:
    from scs_server.settings import Settings

log = logging.getLogger("scs.auth")
GENERATED = ("api_key", "admin_api_key", "jwt_secret_key")


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def stored_secrets(settings: Settings) -> Settings:
    """``settings`` with unset secrets filled from the secrets file if it exists; writes
    nothing (``scs check``). Secrets still missing stay None."""
    path = settings.secrets_path
    if not path.exists():
        return settings
    stored = json.loads(path.read_text(encoding="utf-8"))
    update = {
        name: SecretStr(stored[name])
        for name in GENERATED
        if getattr(settings, name) is None and name in stored
    }
    return settings.model_copy(update=update)


def ensure_secrets(settings: Settings) -> Settings:
    """Fill unset secrets from the secrets file, creating it (mode 0600) if needed.

    Returns a copy of ``settings``; configured values always win over the file.
    """
    missing = [name for name in GENERATED if getattr(settings, name) is None]
    if settings.jwt_algorithm != "HS256" and "jwt_secret_key" in missing:
        missing.remove("jwt_secret_key")
    if not missing:
        return settings
    path = settings.secrets_path
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    created = [name for name in missing if name not in stored]
    if created:
        for name in created:
            stored[name] = new_secret()
        make_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, indent=2)
        path.chmod(0o600)
        log.warning(
            "generated %s into %s (mode 0600); set SCS_API_KEY etc. to use your own",
            ", ".join(created),
            path,
        )
    update = {
        name: check_secret(f"SCS_{name.upper()}", SecretStr(stored[name])) for name in missing
    }
    return settings.model_copy(update=update)
