"""Dashboard test fixtures: a browser-like client closed after each test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .ui import Browser

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable


@pytest.fixture
async def browser() -> AsyncIterator[Callable[[str], Browser]]:
    opened: list[Browser] = []

    def open_browser(base: str) -> Browser:
        client = Browser(base)
        opened.append(client)
        return client

    yield open_browser
    for client in opened:
        await client.close()
