"""The settings loader's rules (scs_server.envsettings): where values come from, in what
order, how their text is decoded, and the one-line errors."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import pytest
from pydantic import BaseModel, Field, field_validator
from scs_server.envsettings import NoDecode
from scs_server.settings import ConfigError, ScsSettings, load_settings, settings_config

if TYPE_CHECKING:
    from pathlib import Path


class Limits(BaseModel):
    soft: int = 1
    hard: int = 2


class DemoSettings(ScsSettings):
    model_config = settings_config("SCS_DEMO_")

    size: int = Field(3, ge=1)
    name: str = "demo"
    tags: list[str] = Field(default_factory=list)
    hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    roles: dict[str, list[str]] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    either: list[str] | str = "plain"


class CommaSettings(DemoSettings):
    """``hosts`` arrives as text (NoDecode) and its own validator splits it."""

    @field_validator("hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (no stray .env) and no SCS_DEMO_* variables."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("SCS_DEMO_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_defaults_without_any_source(workdir: Path) -> None:
    settings = load_settings(DemoSettings)
    assert (settings.size, settings.name, settings.tags, settings.limits) == (
        3,
        "demo",
        [],
        Limits(),
    )


def test_variable_with_the_prefix(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCS_DEMO_SIZE", "7")
    monkeypatch.setenv("SCS_SIZE", "9")  # another prefix: not ours
    assert load_settings(DemoSettings).size == 7


@pytest.mark.parametrize("name", ["scs_demo_size", "Scs_Demo_Size", "SCS_DEMO_SIZE"])
def test_variable_names_in_any_case(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "11")
    assert load_settings(DemoSettings).size == 11


def test_dotenv_of_the_working_directory(workdir: Path) -> None:
    (workdir / ".env").write_text(
        "# a comment\n"
        "export SCS_DEMO_SIZE=5\n"
        "scs_demo_name='quoted value'  # trailing comment\n"
        'SCS_DEMO_TAGS=["a", "b"]\n'
        "OTHER_TOOL_SETTING=ignored\n"
    )
    settings = load_settings(DemoSettings)
    assert (settings.size, settings.name, settings.tags) == (5, "quoted value", ["a", "b"])


def test_environment_wins_over_dotenv_and_arguments_over_both(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text("SCS_DEMO_SIZE=5\nSCS_DEMO_NAME=from-file\n")
    monkeypatch.setenv("SCS_DEMO_SIZE", "6")
    settings = load_settings(DemoSettings)
    assert (settings.size, settings.name) == (6, "from-file")
    assert load_settings(DemoSettings, size=8).size == 8
    assert load_settings(DemoSettings, size=None).size == 6  # None: not given
    assert DemoSettings(SIZE=9).size == 9  # argument names in any case too


def test_complex_fields_are_json(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCS_DEMO_TAGS", '["x", "y"]')
    monkeypatch.setenv("SCS_DEMO_ROLES", '{"bot": ["read"]}')
    monkeypatch.setenv("SCS_DEMO_LIMITS", '{"hard": 5}')
    settings = load_settings(DemoSettings)
    assert settings.tags == ["x", "y"]
    assert settings.roles == {"bot": ["read"]}
    assert settings.limits == Limits(soft=1, hard=5)


def test_dict_values_merge_across_sources(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As with pydantic-settings: keys of a dict from .env, the environment and the
    arguments are merged, the higher source winning per key."""
    (workdir / ".env").write_text('SCS_DEMO_ROLES={"bot": ["write"], "viewer": ["read"]}\n')
    monkeypatch.setenv("SCS_DEMO_ROLES", '{"bot": ["read"]}')
    assert load_settings(DemoSettings).roles == {"bot": ["read"], "viewer": ["read"]}
    merged = load_settings(DemoSettings, roles={"admin": ["admin"]}).roles
    assert merged == {"bot": ["read"], "viewer": ["read"], "admin": ["admin"]}


def test_no_decode_field_gets_the_text(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCS_DEMO_HOSTS", "a.example, b.example")
    assert load_settings(CommaSettings).hosts == ["a.example", "b.example"]
    monkeypatch.setenv("SCS_DEMO_HOSTS", "not json")
    with pytest.raises(ConfigError, match="SCS_DEMO_HOSTS"):  # no splitter: a string, refused
        load_settings(DemoSettings)


def test_union_with_a_plain_type_keeps_text_that_is_not_json(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCS_DEMO_EITHER", "just text")
    assert load_settings(DemoSettings).either == "just text"
    monkeypatch.setenv("SCS_DEMO_EITHER", '["a"]')
    assert load_settings(DemoSettings).either == ["a"]


@pytest.mark.parametrize(
    ("variable", "value", "start"),
    [
        ("SCS_DEMO_TAGS", "a,b", "SCS_DEMO_TAGS: not valid JSON"),
        ("SCS_DEMO_TAGS", "", "SCS_DEMO_TAGS: not valid JSON"),
        ("SCS_DEMO_SIZE", "0", "SCS_DEMO_SIZE: Input should be greater than or equal to 1"),
        ("SCS_DEMO_LIMITS", '{"hard": "x"}', "SCS_DEMO_LIMITS_HARD: Input should be a valid"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, start: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(DemoSettings)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(start)


def test_bad_json_in_dotenv_names_the_variable(workdir: Path) -> None:
    (workdir / ".env").write_text("SCS_DEMO_TAGS=[unclosed\n")
    with pytest.raises(ConfigError, match="^SCS_DEMO_TAGS: not valid JSON .*got '\\[unclosed'"):
        load_settings(DemoSettings)
