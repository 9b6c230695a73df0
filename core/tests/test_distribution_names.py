"""Installable names: the core and every built-in plugin provide their own top-level
import, no two installed distributions provide the same one, and none of ours takes a
name another project owns on PyPI (``scs`` is the SCS solver's import, ``scs-core`` and
``scs_core`` belong to South Coast Science)."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from importlib.metadata import distribution, distributions, packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAKEN_ELSEWHERE = {"scs", "scs_core"}
TAKEN_DISTRIBUTIONS = {"scs", "scs-core", "shared-context-server"}


def workspace_members() -> dict[str, list[str]]:
    """Our distributions (core and plugins) -> the top-level packages their wheel ships."""
    members: dict[str, list[str]] = {}
    for pyproject in [ROOT / "core/pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]:
        config = tomllib.loads(pyproject.read_text())
        tool = config["tool"]
        if "hatch" in tool:
            packages = [
                Path(p).name for p in tool["hatch"]["build"]["targets"]["wheel"]["packages"]
            ]
        else:  # setuptools (a plugin with a compiled extension): the packages it finds
            roots = [
                pyproject.parent / where
                for where in tool["setuptools"]["packages"]["find"]["where"]
            ]
            packages = sorted(
                d.name for root in roots for d in root.iterdir() if (d / "__init__.py").is_file()
            )
        members[config["project"]["name"]] = packages
    return members


def test_the_core_is_scs_server() -> None:
    members = workspace_members()
    assert members["scs-server"] == ["scs_server"]
    assert distribution("scs-server").entry_points.select(group="console_scripts")["scs"].value == (
        "scs_server.cli:main"
    )


def test_no_name_we_ship_is_owned_elsewhere() -> None:
    for name, tops in workspace_members().items():
        assert name not in TAKEN_DISTRIBUTIONS, name
        assert not set(tops) & TAKEN_ELSEWHERE, (name, tops)


def test_no_two_installed_distributions_provide_one_import() -> None:
    providers: dict[str, set[str]] = defaultdict(set)
    for top, names in packages_distributions().items():  # wheels installed normally
        providers[top].update(name.lower() for name in names)
    ours = workspace_members()  # editable installs list no top-level names: use their config
    for name, tops in ours.items():
        for top in tops:
            providers[top].add(name)
    installed = {d.metadata["Name"].lower() for d in distributions()}
    assert set(ours) <= installed, "run `uv sync`: a workspace member is not installed"
    shared = {top: sorted(names) for top, names in providers.items() if len(names) > 1}
    assert shared == {}
