"""The official MCP conformance suite (pinned version) against `scs serve --plugins
default,conformance`, judged by its checks.json (tests/conformance_runner.py).

Needs Node >= 22 and the suite in .cache/conformance (``.ci/install-conformance``);
skipped without them unless SCS_TEST_REQUIRE_CONFORMANCE=1 (CI), then it fails.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import ModuleType

RUNNER_PATH = Path(__file__).with_name("conformance_runner.py")


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_runner", RUNNER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


runner = load_runner()


def test_expected_failures_file_is_well_formed() -> None:
    listed = runner.expected_failures()
    for entry in listed.values():
        assert entry.reason and entry.link.startswith("https://github.com/")


def test_hollow_passes_are_caught(tmp_path: Path) -> None:
    """The suite ticks a tool call answered with an auth error; the runner does not."""
    refused = {
        "id": "tools-call-simple-text",
        "status": "SUCCESS",
        "details": {"result": {"isError": True, "content": [{"type": "text", "text": "AUTH_001"}]}},
    }
    folder = tmp_path / "server-tools-call-simple-text-2026-11-30T04-11-52-661Z"
    folder.mkdir()
    (folder / "checks.json").write_text(runner.json.dumps([refused]))
    judged = runner.judge(tmp_path, ["tools-call-simple-text", "ping"])
    assert not judged["tools-call-simple-text"].passed
    assert judged["ping"].problems == ["no checks.json written"]


@pytest.mark.slow
def test_every_active_scenario_passes(tmp_path: Path) -> None:
    reason = runner.missing()
    if reason:
        if os.environ.get("SCS_TEST_REQUIRE_CONFORMANCE") == "1":
            pytest.fail(f"SCS_TEST_REQUIRE_CONFORMANCE=1 but {reason}")
        pytest.skip(reason)
    report = runner.run_against_scs(tmp_path)
    assert len(report.scenarios) >= 30, report.output[-3000:]
    assert report.ok, report.summary()
