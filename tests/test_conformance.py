"""The official MCP conformance suite (pinned version) against `scs serve --plugins
default,conformance`, judged by its checks.json (tests/conformance_runner.py).

Needs Node >= 22 and the suite in .cache/conformance (``.ci/install-conformance``);
skipped without them unless SCS_TEST_REQUIRE_CONFORMANCE=1 (CI), then it fails.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import conformance_runner as runner
import pytest

if TYPE_CHECKING:
    from pathlib import Path


def test_expected_failures_lines_need_a_reason_and_a_link(tmp_path: Path) -> None:
    listed = tmp_path / "expected.txt"
    listed.write_text(
        "# comment\n\nresources-subscribe | no handler | https://github.com/o/r/issues/1\n"
    )
    entry = runner.expected_failures(listed)["resources-subscribe"]
    assert (entry.reason, entry.link) == ("no handler", "https://github.com/o/r/issues/1")
    listed.write_text("resources-subscribe | no link\n")
    with pytest.raises(ValueError, match="expected.txt:1"):
        runner.expected_failures(listed)
    assert runner.expected_failures(tmp_path / "absent.txt") == {}


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
