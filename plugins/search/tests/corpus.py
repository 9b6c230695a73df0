"""Varied message texts for the tests (deterministic)."""

from __future__ import annotations

import random
from typing import Any

WORDS = [
    "database",
    "connection",
    "pool",
    "pooling",
    "cache",
    "latency",
    "request",
    "handler",
    "agent",
    "session",
    "message",
    "search",
    "index",
    "query",
    "schema",
    "migration",
    "deploy",
    "rollback",
    "token",
    "auth",
    "error",
    "retry",
    "timeout",
    "worker",
    "queue",
    "memory",
    "review",
    "test",
    "failing",
    "passing",
    "build",
    "pipeline",
    "docker",
    "config",
    "plugin",
    "server",
    "client",
    "sqlite",
    "lock",
    "write",
    "read",
    "transaction",
    "commit",
    "branch",
    "merge",
    "fix",
    "bug",
    "refactor",
    "module",
    "function",
    "endpoint",
    "performance",
    "benchmark",
    "metric",
    "log",
    "trace",
    "user",
    "ticket",
    "plan",
    "step",
    "done",
    "blocked",
    "the",
    "we",
    "should",
    "could",
    "will",
    "is",
    "it",
    "this",
    "that",
    "with",
    "from",
    "for",
    "on",
    "in",
    "of",
    "to",
    "a",
    "and",
    "vacuum",
    "replica",
    "shard",
    "backup",
    "restore",
    "snapshot",
    "dashboard",
    "alert",
    "incident",
    "postmortem",
]
SENDERS = (("alice", "claude"), ("bob", "claude"), ("carol", "cursor"), ("dave", "cursor"))
LEVELS = ("public", "public", "public", "private", "agent_only", "admin_only")


def sentence(rnd: random.Random) -> str:
    words = rnd.choices(WORDS, k=rnd.randint(2, 30))
    text = " ".join(words)
    if rnd.random() < 0.1:
        text += f" SCS-{rnd.randint(1, 500)}"
    if rnd.random() < 0.05:
        text = text.upper()
    return text[0].upper() + text[1:] + rnd.choice([".", "!", "?", ""])


def rows(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """``count`` messages from four senders with every visibility level and some metadata."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for _ in range(count):
        sender, sender_type = rnd.choice(SENDERS)
        metadata = None
        if rnd.random() < 0.2:
            metadata = {
                "topic": rnd.choice(WORDS),
                "priority": rnd.randint(1, 5),
                "nested": {"hidden": "zeppelin"},
            }
        # exact duplicates now and then: they are distinct results
        content = out[-1]["content"] if out and rnd.random() < 0.03 else sentence(rnd)
        out.append(
            {
                "sender": sender,
                "sender_type": sender_type,
                "content": content,
                "visibility": rnd.choice(LEVELS),
                "metadata": metadata,
            }
        )
    return out
