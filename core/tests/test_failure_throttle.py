"""The failed-auth throttle's arithmetic with a clock under the test's control."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server.auth.throttle import FailureThrottle, fingerprint
from scs_server.testing import make_settings

if TYPE_CHECKING:
    from pathlib import Path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(tmp_path: Path, **settings: object) -> tuple[FailureThrottle, Clock]:
    clock = Clock()
    values = {"auth_backoff_after": 2, "auth_backoff_base_s": 1.0, "auth_backoff_max_s": 8.0}
    return FailureThrottle(make_settings(tmp_path, **{**values, **settings}), clock), clock


def test_backoff_starts_after_the_free_failures_doubles_and_is_capped(tmp_path: Path) -> None:
    limiter, clock = throttle(tmp_path)
    waits = []
    for i in range(7):
        limiter.record("10.0.0.1", f"wrong-{i}", "api_key")
        waits.append(limiter.wait("10.0.0.1", "another"))
        clock.now += 0.001
    assert [round(w) for w in waits] == [0, 1, 2, 4, 8, 8, 8]
    assert limiter.wait("10.0.0.2", "another") == 0  # other sources are not touched


def test_the_same_wrong_credential_backs_off_from_any_source(tmp_path: Path) -> None:
    limiter, _ = throttle(tmp_path)
    for i in range(3):
        limiter.record(f"10.0.0.{i}", "replayed", "token")
    assert limiter.wait("10.9.9.9", "replayed") > 0
    assert limiter.wait("10.9.9.9", "something else") == 0


def test_one_audit_row_per_window_updated_when_it_closes(tmp_path: Path) -> None:
    limiter, clock = throttle(tmp_path, auth_failure_window_s=60, auth_backoff_max_s=1.0)
    opened = limiter.record("10.0.0.1", "a", "api_key")
    assert opened is not None
    opened.audit_row = 7
    assert limiter.record("10.0.0.1", "b", "token") is None  # same window: no new row
    assert limiter.record("10.0.0.1", "c", "token") is None
    assert limiter.take_updates() == []
    clock.now += 61
    reopened = limiter.record("10.0.0.1", "d", "api_key")  # a new window: a new row
    assert reopened is not None and reopened is not opened
    [update] = limiter.take_updates()
    assert (update.row, update.detail) == (7, "count=3 kinds=api_key:1,token:2 window_s=60")


def test_memory_is_bounded(tmp_path: Path) -> None:
    limiter, _ = throttle(tmp_path, auth_max_tracked=10)
    for i in range(100):
        limiter.record(f"10.0.{i}.1", f"guess-{i}", "api_key")
    assert len(limiter) == 10
    assert limiter.stats()["failures"] == {"api_key": 100}


def test_fingerprints_do_not_reveal_the_credential() -> None:
    secret = "a-token-that-must-not-be-kept-" + "x" * 20
    assert secret not in fingerprint(secret) and len(fingerprint(secret)) == 24
    assert fingerprint("\ud800") != fingerprint("")  # a lone surrogate is a credential too
