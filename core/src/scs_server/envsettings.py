"""Settings values from the environment and ``.env``: the loader behind ``ScsSettings``.

It does what scs used pydantic-settings for, without importing it (~0.1 s at start-up,
too much for ``scs token``). For each field of a model with prefix ``SCS_X_``:

- the variable ``SCS_X_<FIELD>``, in any case, from the process environment, else from
  the ``.env`` file of the working directory (python-dotenv's rules, read only when the
  file exists);
- the text of a complex field (list, dict, set, tuple, model, dataclass) is JSON, unless
  the field is marked ``Annotated[..., NoDecode]``; in a union with a simple type
  (``list[str] | str``) text that is not JSON is passed on as it is;
- keyword arguments win over the environment, which wins over ``.env``; dict values are
  merged key by key across the three (as pydantic-settings did).

Field aliases are not read (no scs setting has one).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
from collections import deque
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Json, Secret

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

COMPLEX_TYPES = (BaseModel, Mapping, Sequence, Set, tuple, deque)


class ScsConfigDict(ConfigDict, total=False):
    """Pydantic's model configuration plus where a settings model reads its values."""

    env_prefix: str
    env_file: str | None
    env_file_encoding: str


class NoDecode:
    """Field marker (``Annotated[list[str], NoDecode]``): the variable's text reaches the
    field's validators as it is, not decoded as JSON (e.g. a comma-separated list)."""


class SettingsSourceError(ValueError):
    """A variable whose text cannot be decoded; its text is one line naming the variable."""


def _subclass(candidate: Any, classes: tuple[type, ...] | type) -> bool:
    try:
        return isinstance(candidate, type) and issubclass(candidate, classes)
    except TypeError:  # a parametrised generic such as list[int]
        return False


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def is_complex(annotation: Any, metadata: Sequence[Any] = ()) -> bool:
    """Whether a value of this type is written as JSON in a variable."""
    if any(isinstance(item, Json) for item in metadata):  # type: ignore[misc]
        return False  # pydantic decodes Json fields itself
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *inner_metadata = get_args(annotation)
        return is_complex(inner, inner_metadata)
    if _subclass(origin, Secret):
        return False
    return any(
        not _subclass(candidate, (str, bytes))
        and (_subclass(candidate, COMPLEX_TYPES) or dataclasses.is_dataclass(candidate))
        for candidate in (annotation, origin)
    )


def _union_is_complex(annotation: Any) -> bool:
    return any(
        is_complex(member) or (_is_union(member) and _union_is_complex(member))
        for member in get_args(annotation)
    )


def decode(field: FieldInfo, text: str, variable: str) -> Any:
    """The value a variable's text gives a field: JSON for complex fields, else the text."""
    strict = is_complex(field.annotation, field.metadata)
    lenient = not strict and _is_union(field.annotation) and _union_is_complex(field.annotation)
    if not (strict or lenient) or NoDecode in field.metadata:
        return text
    try:
        return json.loads(text)
    except ValueError as error:
        if lenient:
            return text
        detail = getattr(error, "msg", str(error))
        raise SettingsSourceError(
            f'{variable}: not valid JSON ({detail}; a list is written ["a", "b"]) '
            f"(got {text[:60]!r})"
        ) from None


def dotenv_variables(config: Mapping[str, Any]) -> dict[str, str | None]:
    """The variables of the model's ``env_file`` (names in lower case); none if absent."""
    name = config.get("env_file")
    if not name:
        return {}
    path = Path(name).expanduser()
    if not (path.is_file() or path.is_fifo()):
        return {}
    from dotenv import dotenv_values  # only when there is a file to read

    values = dotenv_values(path, encoding=config.get("env_file_encoding") or "utf-8")
    return {key.lower(): value for key, value in values.items()}


def field_values(
    model: type[BaseModel], variables: Mapping[str, str | None], prefix: str
) -> dict[str, Any]:
    """The fields that ``variables`` (names in lower case) set, decoded."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name}"
        text = variables.get(variable.lower())
        if text is not None:
            values[name] = decode(field, text, variable.upper())
    return values


def deep_update(base: dict[str, Any], *updates: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by each of ``updates`` in turn, dict values merged key by key."""
    merged = dict(base)
    for update in updates:
        for key, value in update.items():
            if isinstance(merged.get(key), dict) and isinstance(value, dict):
                merged[key] = deep_update(merged[key], value)
            else:
                merged[key] = value
    return merged


def settings_values(model: type[BaseModel], given: Mapping[str, Any]) -> dict[str, Any]:
    """What a settings model is built from: ``.env``, the environment, then ``given``
    (keyword arguments, field names in any case), each winning over the one before."""
    config = model.model_config
    prefix = str(config.get("env_prefix") or "")
    environ = {name.lower(): value for name, value in os.environ.items()}
    by_lower = {name.lower(): name for name in model.model_fields}
    init = {
        key if key in model.model_fields else by_lower.get(key.lower(), key): value
        for key, value in given.items()
    }
    return deep_update(
        field_values(model, dotenv_variables(config), prefix),
        field_values(model, environ, prefix),
        init,
    )
