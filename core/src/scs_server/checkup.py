"""``scs check``: what the configuration, the plugins and the database look like.

Without ``fix`` nothing is written: secrets are read from the secrets file only if it
exists, the database is opened read-only, and the plugins register on a scratch
database in a temporary folder. With ``fix`` the real start-up runs (secrets generated,
migrations applied) and its result is reported.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from scs_server.app import StartupError, create_app, plugin_settings_of
from scs_server.auth.secrets import ensure_secrets, new_secret, stored_secrets
from scs_server.envcheck import env_warnings
from scs_server.plugins import PluginError, PluginHost, SelectionError, discover, select
from scs_server.settings import ConfigError

if TYPE_CHECKING:
    from scs_server.settings import Settings


def masked(model: Any) -> dict[str, Any]:
    """A settings model as JSON, secrets shown as asterisks."""
    return dict(json.loads(model.model_dump_json()))


def run_check(settings: Settings, *, fix: bool) -> dict[str, Any]:
    report: dict[str, Any] = {"warnings": [], "problems": []}
    infos = discover()
    try:
        host = PluginHost.create(select(settings.plugins, infos), infos, strict=False)
    except (SelectionError, PluginError) as error:
        report["problems"].append(str(error))
        return report
    try:
        plugin_settings = plugin_settings_of(host)
    except ConfigError as error:
        report["problems"].append(str(error))
        return report
    report["warnings"] = env_warnings(plugin_settings.values(), infos)
    effective = ensure_secrets(settings) if fix else stored_secrets(settings)
    core = masked(effective)
    core["agent_registration"] = settings.registration_mode()
    missing = [
        f"SCS_{name.upper()}"
        for name in ("api_key", "admin_api_key", "jwt_secret_key")
        if getattr(effective, name) is None
    ]
    if missing:
        report["warnings"].append(
            f"{', '.join(missing)} not set and not in {settings.secrets_path}: generated there "
            "by the first `scs serve` (or `scs check --fix`)"
        )
    report["settings"] = core
    report["plugin_settings"] = {name: masked(model) for name, model in plugin_settings.items()}
    try:
        if fix:
            started = asyncio.run(_start(effective))
        else:
            with tempfile.TemporaryDirectory(prefix="scs-check-") as scratch:
                started = asyncio.run(_start(_scratch(effective, Path(scratch))))
    except (StartupError, ConfigError) as error:
        report["problems"].append(str(error))
        return report
    report.update(started)
    if settings.database_url is not None:  # a server, not a file: nothing to look at offline
        database: dict[str, Any] = {"exists": True, "status": "ok", "path": "postgresql"}
    else:
        from scs_server.storage.sqlite import inspect_file

        database = inspect_file(settings.db_path)
        database["path"] = str(settings.db_path)
    database["pending_migrations"] = _pending(host, database.get("applied", {}))
    report["database"] = database
    if database["exists"] and database["status"] != "ok":
        report["problems"].append(f"database check failed: {database['status']}")
    return report


def _scratch(settings: Settings, folder: Path) -> Settings:
    """The same settings on a scratch database: the plugins register without touching
    the real data dir."""
    secrets = {
        name: getattr(settings, name) or SecretStr(new_secret())
        for name in ("api_key", "admin_api_key", "jwt_secret_key")
    }
    return settings.model_copy(
        update={"data_dir": folder, "database_path": folder / "check.db", **secrets}
    )


async def _start(settings: Settings) -> dict[str, Any]:
    app = await create_app(settings)
    try:
        return {
            "plugins": app.plugins,
            "refused": dict(app.host.refused),
            "tools": sorted(app.tools),
        }
    finally:
        await app.close()


def _pending(host: PluginHost, applied: dict[str, list[int]]) -> dict[str, list[int]]:
    """Migrations each enabled plugin has that the database has not applied yet."""
    pending: dict[str, list[int]] = {}
    for name in host.enabled:
        steps = host.migrations(name)
        missing = sorted(m.version for m in steps if m.version not in applied.get(name, []))
        if missing:
            pending[name] = missing
    return pending
