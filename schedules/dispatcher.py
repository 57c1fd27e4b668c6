"""The dispatcher: claims due outbox rows and delivers them paced under Telegram's limits, retrying what
can be retried and recording every outcome in the database, which holds all its state but the pacing.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import math
import os
import secrets
import socket
import time
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import func, select, text

from bot.clock import Clock
from bot.i18n import normalize_locale
from bot.storage.db import Database
from schedules.outbox import BROADCAST_KIND, Outbox, OutboxEntry
from schedules.pacing import PAID_RATE, Monotonic, Pacer, Sleep
from schedules.templates import RenderContext, Rendered, render

log = logging.getLogger(__name__)

DEFAULT_LEASE = dt.timedelta(seconds=60)
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BATCH = 100
DEFAULT_IN_FLIGHT = 32
# After this many network failures in a row the tick stops: Telegram is unreachable, and trying the
# rest of the queue would only spend every row's attempts.
TRANSIENT_STREAK_LIMIT = 3
# Deliveries are written in groups of this size (and before the dispatcher idles): one transaction per
# message would cap throughput at the database's commit rate. A crash before the write leaves the rows
# in "sending", to go again after the lease: those in flight are the ones that may arrive twice.
SENT_FLUSH = 50
# Sent rows are also recorded before any wait at least this long (the pause at the end of each second's
# sends): not before the short gaps between two sends, where a write per message would cost more.
FLUSH_BEFORE_IDLE = 0.1


# -- what the dispatcher needs from a channel ----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message for one chat; ``reply_markup`` has the Bot API's inline-keyboard shape."""

    chat_id: int
    text: str
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    paid_broadcast: bool = False


# Sends one message and returns the channel's message id; raises one of the DeliveryErrors below.
Sender = Callable[[OutgoingMessage], Awaitable[int | None]]


class DeliveryError(Exception):
    """A send that did not deliver; the subclass says what the dispatcher should do about it."""


class RateLimited(DeliveryError):
    """429: stop all sending for ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after} s")
        self.retry_after = retry_after


class RecipientBlocked(DeliveryError):
    """403: the person blocked the bot (or deleted their account)."""


class TransientFailure(DeliveryError):
    """A network error, a timeout or a 5xx: try again later."""


class PermanentFailure(DeliveryError):
    """The channel refused the message itself (400): trying again would not help."""


class ChannelUnavailable(DeliveryError):
    """The channel cannot send anything (a revoked token): stop, keep every row for later."""


# -- timing ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Backoff:
    """Exponential backoff for transient failures: ``base`` × 2^(attempt-1), at most ``cap``."""

    base: dt.timedelta = dt.timedelta(seconds=15)
    cap: dt.timedelta = dt.timedelta(minutes=30)

    def delay(self, attempts: int) -> dt.timedelta:
        return min(self.cap, self.base * (2 ** max(0, attempts - 1)))


@dataclasses.dataclass
class DispatchReport:
    """What one tick (or a run of ticks) did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0
    deferred: int = 0
    released: int = 0
    rate_limited: int = 0
    leader: bool = True

    def add(self, other: DispatchReport) -> None:
        for field in dataclasses.fields(self):
            if field.type in ("int", int):
                setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        self.leader = self.leader and other.leader

    def as_dict(self) -> dict[str, int | bool]:
        return dataclasses.asdict(self)


# -- only one dispatcher per bot token -----------------------------------------------------------
class LeaderLock:
    """A PostgreSQL advisory lock held on a connection kept for the process's life.

    Telegram's limits are per bot token, so when several processes share a database only the holder
    dispatches; if its connection dies the lock is free and another process takes over. On SQLite
    (one process) every caller leads.
    """

    def __init__(self, db: Database, name: str = "carebot.dispatcher") -> None:
        self._db = db
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._conn: Any = None

    async def acquire(self) -> bool:
        """True when this process leads now (taking the lock if it is free)."""
        if not self._db.is_postgres:
            return True
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection is gone, and the lock with it
                log.warning("lost the dispatcher lock's connection; trying to take the lock again")
                await self._drop()
        conn = await self._db.engine.connect()
        try:
            # Autocommit: a session-level advisory lock outlives transactions, and an open transaction
            # kept for days would pin old row versions.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = bool((await conn.execute(select(func.pg_try_advisory_lock(self.key)))).scalar())
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        log.info("this process now dispatches the outbox")
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(select(func.pg_advisory_unlock(self.key)))
        finally:
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing a dead lock connection failed", exc_info=True)


def worker_name() -> str:
    """Who claimed a row: host, process and a random suffix, so a restarted process is a new worker."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


# -- the dispatcher -------------------------------------------------------------------------------
class Dispatcher:
    """Drains the outbox. Keeps no state of its own but the pacer's windows: a restart loses nothing."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender | Any,
        *,
        rate: float,
        tz: zoneinfo.ZoneInfo | str = "Asia/Shanghai",
        paid_broadcast: bool = False,
        paid_rate: float = PAID_RATE,
        worker: str | None = None,
        batch_size: int = DEFAULT_BATCH,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        lease: dt.timedelta = DEFAULT_LEASE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: Backoff | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        pacer: Pacer | None = None,
        leader: LeaderLock | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox = Outbox(db, clock)
        self.send = sender if _is_sender(sender) else _wrap_bot(sender)
        self.tz = tz if isinstance(tz, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(tz)
        self.paid_broadcast = paid_broadcast
        self.worker = worker or worker_name()
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.pacer = pacer or Pacer(
            rate, paid_rate=paid_rate if paid_broadcast else None, monotonic=monotonic, sleep=sleep
        )
        self.leader = leader

    @property
    def monotonic(self) -> Monotonic:
        return self.pacer.monotonic

    async def tick(self, *, budget: float | None = None) -> DispatchReport:
        """Deliver what is due, for at most ``budget`` seconds (on the pacer's clock), then return.

        Rows still claimed when the budget runs out go back to pending untried.
        """
        report = DispatchReport()
        if self.leader is not None and not await self.leader.acquire():
            report.leader = False
            return report
        report.released = await self.outbox.release_expired(self.lease, max_attempts=self.max_attempts)
        deadline = None if budget is None else self.monotonic() + budget
        while deadline is None or self.monotonic() < deadline:
            # A pause longer than the time left: claim nothing now, the rows are safer in pending.
            if deadline is not None and self.pacer.paused_until >= deadline:
                break
            batch = await self._claim(deadline)
            if not batch:
                break
            report.claimed += len(batch)
            halted = await self._deliver(batch, deadline, report)
            if halted:
                break
        return report

    async def _claim(self, deadline: float | None) -> list[OutboxEntry]:
        if self.pacer.paid_rate is None or not self.paid_broadcast:
            return await self.outbox.claim(self.worker, self._claim_size(deadline))
        # Two lanes: what each can send before the deadline (one second's worth when draining), so that
        # reminders waiting for the free lane do not hold a paid campaign back, nor it them.
        span = 1.0 if deadline is None else max(0.0, deadline - self.monotonic())
        free = await self.outbox.claim(
            self.worker, max(1, math.ceil(self.pacer.rate * span)), other_than=BROADCAST_KIND
        )
        paid = await self.outbox.claim(
            self.worker, max(1, math.ceil(self.pacer.paid_rate * span)), kind=BROADCAST_KIND
        )
        return free + paid

    def _claim_size(self, deadline: float | None) -> int:
        # No more than the cap lets out before the deadline: rows claimed only to be handed back cost
        # two writes each, every tick, through a long broadcast.
        if deadline is None:
            return self.batch_size
        allowed = math.ceil(self.pacer.top_rate * max(0.0, deadline - self.monotonic()))
        return max(1, min(self.batch_size, allowed))

    async def run_until_idle(self, *, max_ticks: int | None = None) -> DispatchReport:
        """Tick until nothing is due at the clock's current moment (rows waiting for later stay)."""
        total = DispatchReport()
        ticks = 0
        while max_ticks is None or ticks < max_ticks:
            report = await self.tick()
            total.add(report)
            ticks += 1
            # Rows put back untried wait for a later moment (a backoff, a pause), so an empty claim
            # means nothing more is due now.
            if not report.leader or report.claimed == 0:
                break
        return total

    # -- one batch --------------------------------------------------------------------------------
    async def _deliver(
        self, batch: Sequence[OutboxEntry], deadline: float | None, report: DispatchReport
    ) -> bool:
        """Send a claimed batch; return True when the tick should stop (channel down, time is up)."""
        # Only templates are rendered in the reader's language; literal texts (every broadcast) need no look-up.
        locales = await self._locales({e.recipient_id for e in batch if e.template is not None})
        now = self.clock.now()
        queue: collections.deque[tuple[OutboxEntry, Rendered]] = collections.deque()
        for entry in batch:
            rendered = await self._render(entry, locales.get(entry.recipient_id), now, report)
            if rendered is not None:
                queue.append((entry, rendered))

        state = _BatchState()
        tasks: set[asyncio.Task[None]] = set()
        limit = asyncio.Semaphore(self.max_in_flight)
        try:
            while queue:
                if state.halted or (deadline is not None and self.monotonic() >= deadline):
                    break
                if state.blocked:
                    for item in [i for i in queue if i[0].recipient_id in state.blocked]:
                        queue.remove(item)  # mark_blocked closed these rows already
                    if not queue:
                        break
                # A free slot first, then the permit: a permit taken while waiting for a slot would
                # let the requests bunch up behind a slow one.
                await limit.acquire()
                moment = self.monotonic()
                pick, earliest = self._pick(queue, moment)
                if pick is None:
                    limit.release()
                    if deadline is not None and earliest >= deadline:
                        break
                    if earliest - moment >= FLUSH_BEFORE_IDLE:
                        await self._flush(state)  # record what went out before idling
                    await self.pacer.wait_until(earliest)
                    continue
                queue.remove(pick)
                self.pacer.record(pick[0].recipient_id, moment, paid=self._paid(pick[0]))
                task = asyncio.create_task(self._send_one(pick[0], pick[1], state, report))
                tasks.add(task)
                task.add_done_callback(functools.partial(_finished, tasks, limit))
                # Let the request start now, at the moment its permit was given.
                await asyncio.sleep(0)
                if len(state.delivered) >= SENT_FLUSH:
                    await self._flush(state)
        finally:
            if tasks:
                for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                    # The row stays "sending" and returns after the lease; the cause must not vanish.
                    if isinstance(outcome, BaseException):
                        log.error("recording a send failed: %s", outcome.__class__.__name__, exc_info=outcome)
            await self._flush(state)
            if queue:
                # Not tried in this tick: back to pending without spending an attempt; after a 429 they
                # wait out the pause.
                until = self.clock.now() + dt.timedelta(
                    seconds=max(0.0, self.pacer.paused_until - self.monotonic())
                )
                if state.halted and state.retry_at is not None:
                    until = max(until, state.retry_at)
                report.deferred += await self.outbox.defer([e.id for e, _r in queue], self.worker, until)
        # Rows handed back mean the budget ran out (or the channel is down): this tick is over.
        return state.halted or bool(queue)

    def _paid(self, entry: OutboxEntry) -> bool:
        """Whether the row goes with allow_paid_broadcast: campaign messages, when paid broadcasting is on."""
        return self.paid_broadcast and entry.kind == BROADCAST_KIND

    def _pick(
        self, queue: collections.deque[tuple[OutboxEntry, Rendered]], now: float
    ) -> tuple[tuple[OutboxEntry, Rendered] | None, float]:
        """The first queued message that may go now; else None and the moment the first one may."""
        lanes = {False: self.pacer.overall_ready_at(now)}
        if self.paid_broadcast:
            lanes[True] = self.pacer.overall_ready_at(now, paid=True)
        opens = min(lanes.values())
        if opens > now:
            # Between two sends of the spread-out cap: no chat can go before a lane opens, so the queue
            # need not be looked at (it can hold a thousand rows, and this runs for every send).
            return None, opens
        earliest = math.inf
        for item in queue:
            entry = item[0]
            ready = max(lanes[self._paid(entry)], self.pacer.chat_ready_at(entry.recipient_id, now))
            if ready <= now:
                return item, now
            earliest = min(earliest, ready)
        return None, earliest

    async def _flush(self, state: _BatchState) -> None:
        delivered, state.delivered = state.delivered, []
        await self.outbox.mark_sent_many(delivered)

    async def _send_one(
        self, entry: OutboxEntry, rendered: Rendered, state: _BatchState, report: DispatchReport
    ) -> None:
        message = OutgoingMessage(
            chat_id=entry.recipient_id,
            text=rendered.text,
            parse_mode=rendered.parse_mode,
            reply_markup=rendered.reply_markup,
            paid_broadcast=self._paid(entry),
        )
        try:
            message_id = await self.send(message)
        except RateLimited as exc:
            self.pacer.pause(exc.retry_after)
            report.rate_limited += 1
            until = self.clock.now() + dt.timedelta(seconds=exc.retry_after)
            report.deferred += await self.outbox.defer([entry.id], self.worker, until)
            log.warning("429 from the channel: all sending paused for %s s", exc.retry_after)
        except RecipientBlocked:
            state.blocked.add(entry.recipient_id)
            closed = await self.outbox.mark_blocked(entry.recipient_id)
            report.blocked += 1
            log.info("recipient blocked the bot; %d waiting messages closed (row %s)", closed, entry.id)
        except ChannelUnavailable as exc:
            state.halted = True
            state.retry_at = self.clock.now() + self.backoff.delay(1)
            report.deferred += await self.outbox.defer([entry.id], self.worker, state.retry_at)
            log.error(
                "the channel refuses to send (%s); dispatching stops until the next tick",
                exc.__class__.__name__,
            )
        except PermanentFailure as exc:
            await self.outbox.mark_failed(entry.id, self.worker, f"permanent: {exc}")
            report.failed += 1
            log.warning("row %s refused by the channel: %s", entry.id, exc.__class__.__name__)
        except Exception as exc:  # TransientFailure, and anything the sender did not foresee
            await self._transient(entry, exc, state, report)
        else:
            state.transient_streak = 0
            state.delivered.append((entry.id, message_id))
            report.sent += 1

    async def _transient(
        self, entry: OutboxEntry, exc: Exception, state: _BatchState, report: DispatchReport
    ) -> None:
        error = f"{exc.__class__.__name__}: {exc}"
        if not isinstance(exc, TransientFailure):
            log.exception("unexpected error sending outbox row %s", entry.id)
        state.transient_streak += 1
        if state.transient_streak >= TRANSIENT_STREAK_LIMIT:
            state.halted = True
            state.retry_at = self.clock.now() + self.backoff.delay(1)
        if entry.attempts >= self.max_attempts:
            await self.outbox.mark_failed(entry.id, self.worker, f"gave up: {error}")
            report.failed += 1
            log.warning("row %s failed after %d attempts", entry.id, entry.attempts)
            return
        at = self.clock.now() + self.backoff.delay(entry.attempts)
        await self.outbox.mark_retry(entry.id, self.worker, at, error)
        report.retried += 1

    async def _render(
        self, entry: OutboxEntry, language: str | None, now: dt.datetime, report: DispatchReport
    ) -> Rendered | None:
        if entry.text is not None:
            return Rendered(entry.text, entry.reply_markup, entry.parse_mode)
        context = RenderContext(locale=normalize_locale(language), now=now, tz=self.tz)
        try:
            rendered = render(entry.template or "", entry.params, context)
        except Exception as exc:
            log.exception("outbox row %s: template %r could not be rendered", entry.id, entry.template)
            await self.outbox.mark_failed(entry.id, self.worker, f"render: {exc.__class__.__name__}")
            report.failed += 1
            return None
        if rendered is None:
            await self.outbox.mark_cancelled(entry.id, self.worker, "nothing left to say")
            report.cancelled += 1
            return None
        if rendered.reply_markup is None and entry.reply_markup is not None:
            rendered = dataclasses.replace(rendered, reply_markup=entry.reply_markup)
        return rendered

    async def _locales(self, recipients: set[int]) -> dict[int, str | None]:
        if not recipients:
            return {}
        from bot.storage.models import User

        users: Any = User.__table__  # type: ignore[attr-defined]
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(users.c.id, users.c.language).where(users.c.id.in_(list(recipients)))
            )
            return {int(row.id): row.language for row in rows}


@dataclasses.dataclass
class _BatchState:
    blocked: set[int] = dataclasses.field(default_factory=set)
    delivered: list[tuple[int, int | None]] = dataclasses.field(default_factory=list)
    halted: bool = False
    retry_at: dt.datetime | None = None
    transient_streak: int = 0


def _finished(tasks: set[asyncio.Task[None]], limit: asyncio.Semaphore, task: asyncio.Task[None]) -> None:
    tasks.discard(task)
    limit.release()


def _is_sender(value: Any) -> bool:
    # A PTB Bot is callable only through its methods; a sender is a plain coroutine function.
    return callable(value) and not hasattr(value, "send_message")


def _wrap_bot(bot: Any) -> Sender:
    from schedules.bot_sender import bot_sender

    return bot_sender(bot)
