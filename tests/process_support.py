"""Helpers for the tests that run ``carebot`` as a real process against a Bot API server on loopback:
the server fixture and a polling wait (the bot runs in another process, so the tests poll)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, overload

import pytest

from bot.apiserver import BotAPIServer

T = TypeVar("T")


@pytest.fixture(name="server")
async def server_fixture() -> AsyncIterator[BotAPIServer]:
    """A Bot API server on loopback; import ``server_fixture`` into a test module to use ``server``."""
    srv = BotAPIServer()
    await srv.start()
    yield srv
    await srv.stop()


@overload
async def until(
    condition: Callable[[], Awaitable[T]], timeout: float, describe: Callable[[], str] | None = None
) -> T: ...
@overload
async def until(
    condition: Callable[[], T], timeout: float, describe: Callable[[], str] | None = None
) -> T: ...
async def until(
    condition: Callable[[], Any], timeout: float, describe: Callable[[], str] | None = None
) -> Any:
    """Poll ``condition`` (plain or async) every 50 ms until it gives a truthy value, and return that;
    past ``timeout`` seconds, fail with ``describe()`` or a plain message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return met
        await asyncio.sleep(0.05)
    raise AssertionError(describe() if describe else f"not reached within {timeout} s")
