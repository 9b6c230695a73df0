"""Choosing the engine from settings, and the rule that turns "no PostgreSQL" into a failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from scs_server.settings import ConfigError, load_settings
from scs_server.storage import open_database
from scs_server.testing import REQUIRE_POSTGRES, engine_settings, no_postgres

if TYPE_CHECKING:
    from pathlib import Path


async def test_the_url_selects_the_engine(
    tmp_path: Path, database_url: str | None, db_engine: str
) -> None:
    db = open_database(engine_settings(tmp_path, database_url))
    assert db.dialect == db_engine
    await db.open()
    try:
        assert await db.fetch_value("SELECT 40 + ?", (2,)) == 42
        assert db.stats()["in_use"] == 0
    finally:
        await db.close()


def test_a_url_of_another_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCS_DATABASE_URL", "mysql://somewhere/scs")
    with pytest.raises(ConfigError, match="SCS_DATABASE_URL: must be a postgresql:// URL"):
        load_settings()
    monkeypatch.setenv("SCS_DATABASE_URL", "")
    assert load_settings().database_url is None  # empty means SQLite


def test_missing_postgres_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_POSTGRES, raising=False)
    with pytest.raises(pytest.skip.Exception):
        no_postgres("no binaries")
    monkeypatch.setenv(REQUIRE_POSTGRES, "1")
    with pytest.raises(pytest.fail.Exception, match="no binaries"):
        no_postgres("no binaries")
