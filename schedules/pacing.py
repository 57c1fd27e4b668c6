"""Pacing under Telegram's limits: an overall cap per second, one message a second per chat (20 a
minute per group), and a pause of all sending after a 429; pure, on an injectable monotonic clock.

With paid broadcasting, messages sent with ``allow_paid_broadcast`` have a lane of their own, capped at
the paid rate (Telegram allows up to 1,000 a second); every other message stays under the free cap, and
counts toward the paid lane's total as well.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Telegram's broadcasting limits: about 30 messages a second for free, up to 1,000 a second for
# messages sent with allow_paid_broadcast (each above the free 30 costs 0.1 Star).
FREE_RATE = 30.0
PAID_RATE = 1000.0
PRIVATE_CHAT_LIMIT = (1, 1.0)  # at most 1 message in any 1 s to one person
GROUP_CHAT_LIMIT = (20, 60.0)  # at most 20 messages in any 60 s to one group
# The overall caps spread each second's messages over this share of it (see SlidingWindow).
SPREAD = 0.9
# Every so many messages, idle per-chat windows are dropped, so a million recipients do not stay in memory.
_PRUNE_EVERY = 4096
_EPSILON = 1e-6


class SlidingWindow:
    """At most ``limit`` events in any half-open window of ``window`` seconds, and at least ``gap``
    seconds between two events.

    Stricter than a token bucket of the same rate, which lets a full bucket plus its refill through in
    one second; Telegram counts messages per second, so the cap has to hold for every window. The gap
    spreads a second's messages over most of it instead of sending them in one burst: two bursts a
    second apart by the sender's clock can land in one second by the receiver's, after a few
    milliseconds of network jitter.
    """

    def __init__(self, limit: int, window: float, *, gap: float = 0.0) -> None:
        if limit < 1 or window <= 0 or not 0 <= gap <= window:
            raise ValueError("a window needs a positive limit and length, and a gap no longer than it")
        self.limit = limit
        self.window = window
        self.gap = gap
        self._events: collections.deque[float] = collections.deque()

    @classmethod
    def per_second(cls, rate: float) -> SlidingWindow:
        """A cap of ``rate`` messages a second, spread over ``SPREAD`` of each second; a fractional rate
        below 1 spaces single messages out."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        if rate < 1:
            return cls(1, 1.0 / rate)
        return cls(math.floor(rate), 1.0, gap=SPREAD / rate)

    def ready_at(self, now: float) -> float:
        """The earliest moment (on the same clock as ``now``) the next event may happen."""
        self._forget(now)
        ready = now
        if self._events and self.gap:
            ready = max(ready, self._events[-1] + self.gap)
        if len(self._events) >= self.limit:
            ready = max(ready, self._events[-self.limit] + self.window)
        return ready

    def record(self, now: float) -> None:
        self._events.append(now)

    def idle_since(self) -> float | None:
        return self._events[-1] if self._events else None

    def _forget(self, now: float) -> None:
        # The gap is never longer than the window: an event the window forgets, the gap has too.
        while self._events and self._events[0] + self.window <= now:
            self._events.popleft()


class Pacer:
    """Hands out permission to send: the overall cap, the per-chat caps and any 429 pause together.

    The dispatcher asks ``ready_at`` to pick a chat that may be written to now (so one busy chat does not
    hold up the others) and calls ``record`` when it sends; ``wait_until`` sleeps on the injected clock.
    """

    def __init__(
        self,
        rate: float,
        *,
        paid_rate: float | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        private_limit: tuple[int, float] = PRIVATE_CHAT_LIMIT,
        group_limit: tuple[int, float] = GROUP_CHAT_LIMIT,
    ) -> None:
        self.rate = rate
        self.paid_rate = paid_rate
        self.monotonic = monotonic
        self.sleep = sleep
        self._overall = SlidingWindow.per_second(rate)
        self._paid = SlidingWindow.per_second(paid_rate) if paid_rate is not None else None
        self._private_limit = private_limit
        self._group_limit = group_limit
        self._chats: dict[int, SlidingWindow] = {}
        self._paused_until = 0.0
        self._records = 0

    def pause(self, seconds: float) -> None:
        """Stop all sending for ``seconds`` (a 429's ``retry_after``); a longer pause already set wins."""
        self._paused_until = max(self._paused_until, self.monotonic() + max(0.0, seconds))

    @property
    def paused_until(self) -> float:
        return self._paused_until

    @property
    def top_rate(self) -> float:
        """The most messages a second this pacer lets out, counting the paid lane."""
        return max(self.rate, self.paid_rate or 0.0)

    def overall_ready_at(self, now: float | None = None, *, paid: bool = False) -> float:
        now = self.monotonic() if now is None else now
        if paid and self._paid is not None:
            return max(now, self._paused_until, self._paid.ready_at(now))
        ready = max(now, self._paused_until, self._overall.ready_at(now))
        return max(ready, self._paid.ready_at(now)) if self._paid is not None else ready

    def chat_ready_at(self, chat_id: int, now: float) -> float:
        """When ``chat_id`` may be written to again, by its own cap alone."""
        chat = self._chats.get(chat_id)
        return chat.ready_at(now) if chat is not None else now

    def ready_at(self, chat_id: int, now: float | None = None, *, paid: bool = False) -> float:
        """When a message to ``chat_id`` may go, counting the overall cap (the paid lane's, for a paid
        broadcast message) and any pause."""
        now = self.monotonic() if now is None else now
        return max(self.overall_ready_at(now, paid=paid), self.chat_ready_at(chat_id, now))

    def record(self, chat_id: int, now: float | None = None, *, paid: bool = False) -> None:
        """Count a message as sent to ``chat_id`` at ``now`` (``paid``: with allow_paid_broadcast)."""
        now = self.monotonic() if now is None else now
        if self._paid is not None:
            self._paid.record(now)
        if not (paid and self._paid is not None):
            self._overall.record(now)
        chat = self._chats.get(chat_id)
        if chat is None:
            limit, window = self._group_limit if chat_id < 0 else self._private_limit
            chat = self._chats[chat_id] = SlidingWindow(limit, window)
        chat.record(now)
        self._records += 1
        if self._records % _PRUNE_EVERY == 0:
            self._prune(now)

    async def wait_until(self, moment: float) -> None:
        delay = moment - self.monotonic()
        if delay > 0:
            # A hair past the moment: ``now + (moment - now)`` can round to just short of it, and a
            # caller waiting for ``moment`` would then wait forever in ever smaller steps.
            await self.sleep(delay + _EPSILON)

    async def acquire(self, chat_id: int, *, paid: bool = False) -> float:
        """Wait until a message to ``chat_id`` may go, count it, and return the moment it was allowed."""
        while True:
            now = self.monotonic()
            moment = self.ready_at(chat_id, now, paid=paid)
            if moment <= now:
                self.record(chat_id, now, paid=paid)
                return now
            await self.wait_until(moment)

    def _prune(self, now: float) -> None:
        longest = max(self._private_limit[1], self._group_limit[1])
        stale = [chat for chat, w in self._chats.items() if (w.idle_since() or 0.0) + longest <= now]
        for chat in stale:
            del self._chats[chat]


class VirtualTime:
    """A monotonic clock that only moves when slept on: pacing in tests and benchmarks without waiting.

    ``on_advance`` lets a test move its ``FakeClock`` in step, so database timestamps follow.
    """

    def __init__(self, start: float = 0.0, on_advance: Callable[[float], object] | None = None) -> None:
        self.now = start
        self.slept = 0.0
        self._on_advance = on_advance

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.now += seconds
        self.slept += seconds
        if self._on_advance is not None:
            self._on_advance(seconds)
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)
