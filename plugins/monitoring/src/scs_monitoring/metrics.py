"""Per-tool figures: Prometheus series (per-App registry) and in-process quantiles."""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import scs_server
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from scs_server.cpu import lane_stats

from scs_monitoring.gcpauses import PAUSES
from scs_monitoring.history import CallHistory
from scs_monitoring.loopstalls import LoopStalls

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from prometheus_client.metrics_core import Metric
    from scs_server.app import App

    from scs_monitoring.gcpauses import Generation

# Seconds. Most scs calls take 0.2-20 ms; the tail goes to seconds when the DB is busy.
BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
UNKNOWN_TOOL = "unknown"


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of an already sorted, non-empty list."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass
class ToolFigures:
    """Counts since start, and the latest durations (seconds) for quantiles."""

    reservoir_size: int
    calls: int = 0
    errors: int = 0
    errors_by_code: Tally[str] = field(default_factory=Tally)
    total_seconds: float = 0.0
    recent: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.reservoir_size)

    def add(self, seconds: float, code: str | None) -> None:
        self.calls += 1
        self.total_seconds += seconds
        self.recent.append(seconds)
        if code is not None:
            self.errors += 1
            self.errors_by_code[code] += 1

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.recent)
        figures: dict[str, Any] = {
            "calls": self.calls,
            "errors": self.errors,
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "error_rate": round(self.errors / self.calls, 4) if self.calls else 0.0,
            "mean_ms": round(self.total_seconds / self.calls * 1000, 3) if self.calls else None,
        }
        for name, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            figures[name] = round(quantile(ordered, q) * 1000, 3) if ordered else None
        figures["window"] = len(ordered)
        return figures


class Metrics:
    """Everything monitoring measures for one App."""

    def __init__(self, app: App, reservoir_size: int) -> None:
        self.app = app
        self.reservoir_size = reservoir_size
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.tools: dict[str, ToolFigures] = {}
        self.all = ToolFigures(reservoir_size)
        self.history = CallHistory()
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "scs_tool_calls", "Tool calls by outcome", ["tool", "outcome"], registry=self.registry
        )
        self.errors = Counter(
            "scs_tool_errors", "Failed tool calls by error code", ["tool", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "scs_tool_duration_seconds", "Tool call duration", ["tool"], buckets=BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.registry.register(StateCollector(self))
        # the Prometheus children of each (tool label, error code or None) seen so far
        self._series: dict[tuple[str, str | None], tuple[Counter, Counter | None, Histogram]] = {}

    def label(self, tool: str) -> str:
        """Tool names come from clients: only registered ones become labels."""
        return tool if tool in self.app.tools else UNKNOWN_TOOL

    @property
    def in_flight(self) -> int:
        """Tool calls being served now (counted by the core around every call)."""
        return self.app.calls.in_flight.get("tool", 0)

    def finished_call(self, tool: str, seconds: float, code: str | None) -> None:
        label = self.label(tool)
        figures = self.tools.get(label)
        if figures is None:
            figures = self.tools[label] = ToolFigures(self.reservoir_size)
        figures.add(seconds, code)
        self.all.add(seconds, code)
        self.history.add(label, seconds, code)
        series = self._series.get((label, code))
        if series is None:  # ``labels()`` on every call: a lock and a few tuples each
            series = self._series[label, code] = (
                self.calls.labels(label, "ok" if code is None else "error"),
                None if code is None else self.errors.labels(label, code),
                self.duration.labels(label),
            )
        calls, errors, duration = series
        calls.inc()
        if errors is not None:
            errors.inc()
        duration.observe(seconds)

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def plugin_stats(self) -> dict[str, Any]:
        """Every plugin's figures by section (the ``scs_stats`` hook), e.g. ``cache``."""
        return {name: dict(figures) for name, figures in self.app.host.stats(self.app).items()}

    def http_in_flight(self) -> dict[str, int] | None:
        """The per-caller cap on MCP requests in flight (None: no cap)."""
        counts = self.app.in_flight
        return counts.stats() if counts is not None else None

    def loop_stalls(self) -> LoopStalls | None:
        """The event loop's stall recorder (None when ``loop_stall_ms`` is 0)."""
        return self.app.services.find(LoopStalls)

    def snapshot(self) -> dict[str, Any]:
        """The JSON answer of get_performance_metrics."""
        sections = self.plugin_stats()
        return {
            "success": True,
            "version": scs_server.__version__,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "uptime_seconds": round(self.uptime(), 3),
            "in_flight": self.in_flight,
            "totals": self.all.summary(),
            "tools": {name: self.tools[name].summary() for name in sorted(self.tools)},
            "database": self.app.db.stats(),
            "cpu_lane": lane_stats(),
            "http_in_flight": self.http_in_flight(),
            "auth": self.app.auth.stats(),
            "cache": sections.pop("cache", None),
            "ratelimit": sections.pop("ratelimit", None),
            "retention": sections.pop("retention", None),
            "gc": PAUSES.stats(),
            "loop_stalls": stalls.stats() if (stalls := self.loop_stalls()) else None,
            "plugins": sections,  # other plugins' scs_stats sections
        }


class StateCollector(Collector):
    """Figures read at scrape time: uptime, database pool, failed auth, cache, rate limiter."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("scs_uptime_seconds", "Seconds since start", self.metrics.uptime())
        yield GaugeMetricFamily(
            "scs_tool_calls_in_flight", "Tool calls being served now", self.metrics.in_flight
        )
        yield from _db_families(self.metrics.app.db.stats())
        yield from _cpu_lane_families(lane_stats())
        in_flight = self.metrics.http_in_flight()
        if in_flight is not None:
            yield GaugeMetricFamily(
                "scs_http_requests_in_flight", "MCP requests in flight now", in_flight["requests"]
            )
            yield CounterMetricFamily(
                "scs_http_refused_in_flight",
                "MCP requests refused: their caller had max_calls_in_flight already",
                in_flight["refused"],
            )
        yield from _auth_families(self.metrics.app.auth.stats())
        yield from _gc_families(PAUSES.generations)
        stalls = self.metrics.loop_stalls()
        if stalls is not None:
            yield from _stall_families(stalls)
        sections = self.metrics.plugin_stats()
        cache = sections.get("cache")
        if cache is not None:
            yield from _cache_families(cache)
        retention = sections.get("retention")
        if retention is not None:
            yield from _retention_families(retention)
        limiter = sections.get("ratelimit")
        if limiter is not None:
            refused = CounterMetricFamily(
                "scs_ratelimit_refused", "Calls refused by the rate limiter", labels=["reason"]
            )
            for scope, count in sorted(limiter["refused_by_scope"].items()):
                refused.add_metric([scope], count)
            yield refused
            yield GaugeMetricFamily(
                "scs_ratelimit_buckets", "Buckets in memory", limiter["buckets"]
            )


def _stall_families(stalls: LoopStalls) -> Iterable[Metric]:
    """The event loop's late turns (``scs_monitoring.loopstalls``)."""
    yield CounterMetricFamily(
        "scs_event_loop_stalls",
        "Event-loop turns late by SCS_MONITORING_LOOP_STALL_MS or more",
        stalls.count,
    )
    yield CounterMetricFamily(
        "scs_event_loop_stall_seconds", "Seconds of those late turns", stalls.seconds
    )
    yield GaugeMetricFamily(
        "scs_event_loop_stall_max_seconds", "Longest late turn", stalls.max_seconds
    )


def _gc_families(generations: Sequence[Generation]) -> Iterable[Metric]:
    """The cyclic garbage collector's pauses (``scs_monitoring.gcpauses``), by generation."""
    families = (
        CounterMetricFamily("scs_gc_collections", "Garbage-collector runs", labels=["generation"]),
        CounterMetricFamily(
            "scs_gc_pause_seconds",
            "Seconds the garbage collector held the event loop",
            labels=["generation"],
        ),
        GaugeMetricFamily(
            "scs_gc_pause_max_seconds", "Longest garbage-collector pause", labels=["generation"]
        ),
    )
    for n, figures in enumerate(generations):
        families[0].add_metric([str(n)], figures.collections)
        families[1].add_metric([str(n)], figures.seconds)
        families[2].add_metric([str(n)], figures.max_seconds)
    yield from families


def _cpu_lane_families(stats: dict[str, float]) -> Iterable[Metric]:
    """The CPU lane (``scs_server.cpu``): jobs, and seconds they ran and queued."""
    yield CounterMetricFamily("scs_cpu_lane_jobs", "Jobs run on the CPU lane", stats["jobs"])
    yield CounterMetricFamily(
        "scs_cpu_lane_busy_seconds", "Seconds the CPU lane was running jobs", stats["busy_s"]
    )
    yield CounterMetricFamily(
        "scs_cpu_lane_queued_seconds", "Seconds jobs waited for the CPU lane", stats["queued_s"]
    )


def _retention_families(stats: dict[str, Any]) -> Iterable[Metric]:
    """The archive plugin's retention runs and the rows they deleted, by kind."""
    yield CounterMetricFamily("scs_retention_runs", "Retention runs", stats["runs"])
    purged = CounterMetricFamily(
        "scs_retention_purged", "Rows deleted by retention", labels=["kind"]
    )
    for kind, count in sorted(stats["purged"].items()):
        purged.add_metric([kind], count)
    yield purged


# (key in Database.stats(), series name, help, counter?) ; a key the core drops is skipped.
DB_SERIES = (
    ("pool_size", "scs_db_pool_size", "Connections the pool may hold", False),
    ("in_use", "scs_db_pool_in_use", "Connections lent out now", False),
    ("connections_opened", "scs_db_connections_opened", "Connections opened", True),
    ("acquire_waits", "scs_db_acquire_waits", "Connection requests that had to wait", True),
    ("writer_waiting", "scs_db_writer_busy", "1 while a writer holds the write lock", False),
    ("writes_on_loop", "scs_db_writes_on_loop", "Write transactions run on the event loop", True),
    (
        "writes_in_thread",
        "scs_db_writes_in_thread",
        "Write transactions run in a thread (heavy ones, or another process held the lock)",
        True,
    ),
    (
        "grouped_writes",
        "scs_db_grouped_writes",
        "One-statement writes that shared an earlier one's commit (group commit)",
        True,
    ),
    (
        "reads_on_loop",
        "scs_db_reads_on_loop",
        "Queries of read blocks answered on the event loop (SQLite)",
        True,
    ),
    (
        "reads_over_budget",
        "scs_db_reads_over_budget",
        "Queries of read blocks that ran past the loop's budget and moved to a thread",
        True,
    ),
    ("checkpoints", "scs_db_checkpoints", "WAL checkpoints run off the event loop", True),
    (
        "wal_restarts",
        "scs_db_wal_restarts",
        "Checkpoints completed with this process's writers held back (the WAL starts over)",
        True,
    ),
    ("changes_delivered", "scs_db_changes_delivered", "Change-feed changes delivered", True),
    (
        "changes_gaps",
        "scs_db_changes_gaps",
        "Change-feed gaps: changes pruned before this process read them (it resynchronised)",
        True,
    ),
)


def _db_families(stats: dict[str, Any]) -> Iterable[Metric]:
    """The figures the engine reports (PostgreSQL has no loop writes nor checkpoints),
    each labelled with the engine's ``dialect``."""
    dialect = str(stats.get("dialect", "unknown"))
    for key, name, text, counter in DB_SERIES:
        value = stats.get(key)
        if isinstance(value, int | float):
            family = (CounterMetricFamily if counter else GaugeMetricFamily)(
                name, text, labels=["dialect"]
            )
            family.add_metric([dialect], float(value))
            yield family


def _auth_families(stats: dict[str, Any]) -> Iterable[Metric]:
    failures = CounterMetricFamily(
        "scs_auth_failures", "Wrong credentials presented, by kind", labels=["kind"]
    )
    for kind, count in sorted(stats["failures"].items()):
        failures.add_metric([kind], count)
    yield failures
    yield CounterMetricFamily(
        "scs_auth_throttled",
        "Wrong credentials refused early (their source was in backoff)",
        stats["throttled"],
    )
    yield GaugeMetricFamily(
        "scs_auth_failing_tracked", "Failing sources and credentials in memory", stats["tracked"]
    )
    yield CounterMetricFamily(
        "scs_revocation_checks", "Tokens checked for revocation", stats["revocation_checks"]
    )
    yield CounterMetricFamily(
        "scs_revocation_reads", "Revocation reads sent to the database", stats["revocation_reads"]
    )
    yield CounterMetricFamily(
        "scs_revocation_answered_from_memory",
        "Revocation checks answered under the revocation lease (PostgreSQL)",
        stats["revocation_answered_from_memory"],
    )
    yield GaugeMetricFamily(
        "scs_revocation_lease_trusted",
        "1 while this replica answers revocation checks from memory (PostgreSQL)",
        int(bool(stats["revocation_lease_trusted"])),
    )


def _cache_families(stats: dict[str, Any]) -> Iterable[Metric]:
    yield CounterMetricFamily("scs_cache_hits", "Reads answered from the cache", stats["hits"])
    yield CounterMetricFamily("scs_cache_misses", "Cacheable reads that ran", stats["misses"])
    yield CounterMetricFamily(
        "scs_cache_invalidations", "Entries dropped by committed changes", stats["invalidations"]
    )
    yield CounterMetricFamily(
        "scs_cache_checked", "Entries that changes looked at", stats["checked"]
    )
    yield GaugeMetricFamily("scs_cache_entries", "Entries in the cache", stats["entries"])
    yield GaugeMetricFamily("scs_cache_bytes", "Approximate size of the entries", stats["bytes"])
    yield GaugeMetricFamily("scs_cache_hit_ratio", "hits / (hits + misses)", stats["hit_ratio"])
