"""Warnings about ``SCS_*`` environment variables that no setting reads (typos)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from scs_server.settings import Settings, env_names, env_prefix, unknown_env

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from scs_server.settings import ScsSettings


def env_warnings(
    plugin_settings: Iterable[ScsSettings],
    installed: Iterable[str],
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Unknown ``SCS_*`` variables, each with the closest known name.

    Known: the core's settings and those of the enabled plugins (``plugin_settings``);
    variables of installed plugins that are not enabled are not reported.
    """
    models = list(plugin_settings)
    known = env_names(Settings)
    for model in models:
        known |= env_names(type(model))
    loaded = {env_prefix(type(model)) for model in models}
    skip = tuple(
        prefix for prefix in (f"SCS_{name.upper()}_" for name in installed) if prefix not in loaded
    )
    return unknown_env(known, os.environ if environ is None else environ, skip)
