"""Settings: prefix, .env, plugin settings, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr
from scs_server.settings import (
    ConfigError,
    ScsSettings,
    Settings,
    check_secret,
    load_settings,
    settings_config,
)

if TYPE_CHECKING:
    from pathlib import Path


def test_env_prefix_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "SCS_PORT=24000\nSCS_PLUGINS=default,-cache\nFASTMCP_LOG_LEVEL=DEBUG\n"
    )
    settings = load_settings()
    assert settings.port == 24000
    assert settings.plugins == "default,-cache"


def test_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCS_PORT", "24001")
    assert load_settings(port=25000).port == 25000
    assert load_settings(port=None).port == 24001


def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCS_PORT", "70000")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("SCS_PORT:")
    assert "65535" in text


def test_plugin_settings_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class DemoSettings(ScsSettings):
        model_config = settings_config("SCS_DEMO_")
        size: int = 3

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCS_DEMO_SIZE", "x")
    with pytest.raises(ConfigError, match="SCS_DEMO_SIZE"):
        load_settings(DemoSettings)
    monkeypatch.setenv("SCS_DEMO_SIZE", "7")
    assert load_settings(DemoSettings).size == 7


@pytest.mark.parametrize(
    "value",
    ["your-secure-api-key-replace-this-in-production", "short", "changeme" * 8],
)
def test_weak_secrets_refused(value: str) -> None:
    with pytest.raises(ValueError, match="SCS_API_KEY"):
        check_secret("SCS_API_KEY", SecretStr(value))


def test_placeholder_in_environment_stops_cli(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SCS_DATA_DIR": str(tmp_path),
        "SCS_API_KEY": "your-secure-api-key-replace-this-in-production",
    }
    done = subprocess.run(
        [sys.executable, "-m", "scs_server.cli", "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "SCS_API_KEY" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_data_dir_default_is_per_user() -> None:
    settings = Settings()
    assert settings.db_path.name == "scs.db"
    assert "scs" in str(settings.data_dir)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("10.0.0.0/8, fd00::/8", ["10.0.0.0/8", "fd00::/8"]),
        ('["192.168.1.10"]', ["192.168.1.10"]),
        ("", []),
    ],
)
def test_trusted_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, parsed: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCS_TRUSTED_PROXIES", value)
    assert load_settings().trusted_proxies == parsed


def test_a_trusted_proxy_must_be_an_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCS_TRUSTED_PROXIES", "*")
    with pytest.raises(ConfigError, match="SCS_TRUSTED_PROXIES: '\\*' is not an IP address"):
        load_settings()
