"""Core settings (prefix ``SCS_``) and the helpers plugins use for their own settings."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from scs_server.envsettings import NoDecode, ScsConfigDict, SettingsSourceError, settings_values

if TYPE_CHECKING:
    from collections.abc import Mapping

PermissionName = Literal["read", "write", "admin", "debug"]
DEFAULT_AGENT_PERMISSIONS: dict[str, list[PermissionName]] = {
    "claude": ["read", "write"],
    "gemini": ["read", "write"],
    "cursor": ["read", "write"],
    "copilot": ["read", "write"],
    "windsurf": ["read", "write"],
    "generic": ["read", "write"],
    "readonly": ["read"],
    "admin": ["read", "write", "admin", "debug"],
}

PLACEHOLDER_MARKERS = (
    "replace-this",
    "replace-me",
    "change-me",
    "changeme",
    "your-secure",
    "your-api-key",
    "your-secret",
    "placeholder",
    "example",
)
MIN_SECRET_BYTES = 32


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``90d``, ``12h``, ``30m``, ``45s`` or a bare number of seconds."""
    value = text.strip().lower()
    unit = DURATION_UNITS.get(value[-1:], 0)
    number = value[:-1] if unit else value
    if not number.isdigit():
        raise ValueError(f"{text!r} is not a duration: use a number with s, m, h or d (e.g. 90d)")
    return int(number) * (unit or 1)


class ConfigError(Exception):
    """A setting that cannot be used; its text is one line meant for a person."""


def default_data_dir() -> Path:
    import platformdirs  # ~6 ms of a light command, paid only when SCS_DATA_DIR is unset

    return Path(platformdirs.user_data_dir("scs", appauthor=False))


def check_secret(name: str, value: SecretStr | None) -> SecretStr | None:
    """Refuse placeholders and short secrets; return the value unchanged otherwise."""
    if value is None:
        return None
    raw = value.get_secret_value()
    lowered = raw.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        raise ValueError(f"{name} is a placeholder value; generate one with `scs secrets`")
    if len(raw.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes long")
    return value


def settings_config(env_prefix: str) -> ScsConfigDict:
    """The settings configuration every scs model shares, with its own prefix.

    Plugins write ``model_config = settings_config("SCS_<PLUGIN>_")``.
    """
    return ScsConfigDict(
        env_prefix=env_prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        arbitrary_types_allowed=True,
    )


class ScsSettings(BaseModel):
    """Base for every settings model: reads the environment and ``.env``, ignores extras.

    Keyword arguments win over ``<PREFIX><FIELD>`` variables (any case), which win over
    the working directory's ``.env`` (rules: ``scs_server.envsettings``).
    """

    model_config: ClassVar[ScsConfigDict] = settings_config("SCS_")

    def __init__(self, **values: Any) -> None:
        super().__init__(**settings_values(type(self), values))


class Settings(ScsSettings):
    """Settings of the core. CLI flags override them."""

    plugins: str = Field("default", description="Plugins to enable: default, names, -name")
    plugins_strict: bool = Field(True, description="Stop start-up when a plugin is refused")
    transport: Literal["http", "stdio"] = "http"
    host: str = "127.0.0.1"
    port: int = Field(23456, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    database_path: Path | None = None
    db_pool_size: int = Field(20, ge=1, le=200)
    db_busy_timeout_ms: int = Field(5000, ge=0, le=600_000)
    db_mmap_size: int = Field(268_435_456, ge=0)
    db_acquire_timeout_s: int = Field(10, ge=1, le=600)
    db_journal_size_limit: int = Field(
        64 * 1024 * 1024, ge=0, description="Bytes a WAL file is cut back to after a checkpoint"
    )
    database_url: SecretStr | None = Field(
        None, description="postgresql://… selects PostgreSQL; unset: the SQLite file"
    )
    db_pool_min_size: int = Field(1, ge=0, le=200, description="PostgreSQL: connections kept open")
    changes_retention_s: int = Field(3600, ge=60, description="Change-feed rows kept this long")
    changes_poll_ms: int = Field(50, ge=5, le=5000, description="SQLite: change watcher poll")
    revocation_lease_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="PostgreSQL: a replica answers revocation checks from memory under a lease"
        " this long (a revocation waits at most 1.25x for a replica that stopped keeping up);"
        " 0: one read per call",
    )

    api_key: SecretStr | None = None
    admin_api_key: SecretStr | None = None
    jwt_secret_key: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_private_key_path: Path | None = None
    jwt_public_key_path: Path | None = None
    jwt_issuer: str = "scs"
    jwt_audience: str = "scs-mcp"
    token_ttl_seconds: int = Field(3600, ge=60, le=30 * 86400)
    max_token_ttl: int = Field(
        365 * 86400,
        ge=60,
        description="Longest lifetime `scs token --ttl` grants a named token (e.g. 365d)",
    )
    refresh_grace_s: int = Field(
        60,
        ge=0,
        le=3600,
        description="Seconds the old token keeps working after refresh_token with no argument",
    )
    token: SecretStr | None = Field(
        None, description="The caller's token over stdio (scs serve --transport stdio, connect)"
    )
    allow_anonymous_read: bool = False
    agent_type_permissions: dict[str, list[PermissionName]] = Field(
        default_factory=lambda: dict(DEFAULT_AGENT_PERMISSIONS)
    )
    auth_failure_window_s: int = Field(
        300, ge=1, description="failed-auth counting window per source (one audit row each)"
    )
    auth_backoff_after: int = Field(
        5, ge=0, description="wrong credentials per source per window answered without backoff"
    )
    auth_backoff_base_s: float = Field(1.0, gt=0, description="first backoff; doubles per failure")
    auth_backoff_max_s: float = Field(60.0, gt=0, description="longest backoff")
    auth_max_tracked: int = Field(
        10_000, ge=10, description="failing sources and credentials remembered at most"
    )
    audit_retention_days: int = Field(
        90, ge=0, description="audit rows older than this are deleted (hourly); 0 keeps them all"
    )
    # ``[]``, not ``default_factory=list``: pydantic copies mutable defaults per instance,
    # and a builtin factory makes it parse ``list``'s text signature (~1-3 ms of `scs token`)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [],
        description="proxy IPs/CIDRs whose X-Forwarded-For is believed (comma-separated)",
    )
    agent_registration: Literal["optional", "required"] | None = Field(
        None, description="Must agent ids be registered? Default: required off loopback"
    )

    allowed_hosts: list[str] = Field([])
    cors_origins: list[str] = Field([])
    max_body_bytes: int = Field(2_000_000, ge=1024)
    body_read_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Seconds a client has to send a request's whole body"
    )
    max_calls_in_flight: int = Field(
        16,
        ge=0,
        le=10_000,
        description="Tool calls, resource reads and prompt gets one caller (credential, else "
        "address) may have in flight; "
        "more are refused at once with RATE_LIMITED (0: no cap)",
    )
    structured_content: bool = Field(
        True,
        description="Tool results carry structuredContent beside their JSON text (false: the "
        "text only, for tools whose output schema says no more than 'an object')",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (unset it to use SQLite)")
        return value

    @field_validator("api_key", "admin_api_key", "jwt_secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        return check_secret(f"SCS_{info.field_name.upper()}", value)

    @field_validator("max_token_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)"
                ) from None
        return value

    @property
    def db_path(self) -> Path:
        return self.database_path or self.data_dir / "scs.db"

    @property
    def secrets_path(self) -> Path:
        return self.data_dir / "secrets.json"

    def registration_mode(self) -> Literal["optional", "required"]:
        """The effective ``agent_registration``: set, or ``required`` when HTTP binds a
        non-loopback address (anyone on the network could hold the API key), else optional."""
        if self.agent_registration is not None:
            return self.agent_registration
        exposed = self.transport == "http" and not self.binds_loopback()
        return "required" if exposed else "optional"

    def binds_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def format_validation_error(error: ValidationError, prefix: str = "SCS_") -> str:
    """One line per bad value, naming the environment variable and what it accepts."""
    lines = []
    for item in error.errors():
        field = "_".join(str(part) for part in item["loc"] if not isinstance(part, int))
        name = f"{prefix}{field.upper()}" if field else prefix.rstrip("_")
        got = item.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {str(got)[:60]!r})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}{shown}")
    return "; ".join(lines)


def env_names(model: type[ScsSettings]) -> set[str]:
    """The environment variables a settings model reads (``SCS_PORT``...)."""
    return {f"{env_prefix(model)}{name}".upper() for name in model.model_fields}


def env_prefix(model: type[ScsSettings]) -> str:
    """The prefix of a settings model's variables (``SCS_``, ``SCS_CACHE_``...)."""
    return str(model.model_config.get("env_prefix") or "")


def unknown_env(
    known: set[str], environ: Mapping[str, str], skip_prefixes: tuple[str, ...] = ()
) -> list[str]:
    """One warning per ``SCS_*`` variable nobody reads (a typo such as ``SCS_PLUGIN``),
    naming the closest known name. ``skip_prefixes``: those of installed plugins that
    are not enabled (their settings are not loaded, yet are not typos)."""
    import difflib  # only when a setting is checked, not for every settings build

    warnings = []
    for name in sorted(environ):
        if not name.startswith("SCS_") or name in known or name.startswith(skip_prefixes):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"unknown setting {name} (ignored){guess}")
    return warnings


def load_settings(model: type[ScsSettings] = Settings, **overrides: Any) -> Any:
    """Build a settings model; turn validation failures into a one-line ConfigError."""
    try:
        return model(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsSourceError as error:
        raise ConfigError(str(error)) from None
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, env_prefix(model) or "SCS_")) from None
