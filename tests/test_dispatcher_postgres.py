"""Several dispatchers on one PostgreSQL database: rows claimed with SKIP LOCKED go out exactly once, and
only the holder of the advisory lock dispatches. Skipped on SQLite."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

import pytest

from bot.clock import FakeClock
from bot.storage.db import Database
from bot.transport import InProcessBotAPI
from schedules.dispatcher import Dispatcher, LeaderLock
from schedules.outbox import NewMessage, Outbox, OutboxState
from tests.schedules_support import make_bot


@pytest.fixture
async def second_db(db: Database) -> AsyncIterator[Database]:
    if not db.is_postgres:
        pytest.skip("needs PostgreSQL (set CAREBOT_TEST_DATABASE_URL)")
    other = Database(db.url)
    yield other
    await other.dispose()


async def test_two_dispatchers_send_each_row_exactly_once(
    db: Database, second_db: Database, clock: FakeClock
) -> None:
    await Outbox(db, clock).enqueue_many(
        [NewMessage(key=f"k{i}", recipient_id=10_000 + i, kind="test", text=f"row {i}") for i in range(600)]
    )
    api = InProcessBotAPI()
    dispatchers = [
        Dispatcher(database, clock, make_bot(api), rate=1000, batch_size=40, worker=f"w{n}")
        for n, database in enumerate((db, second_db))
    ]
    reports = await asyncio.gather(*(d.run_until_idle() for d in dispatchers))
    assert sum(r.sent for r in reports) == 600
    assert all(r.sent > 0 for r in reports)  # both took part
    texts = collections.Counter(c.text for c in api.sent() if c.method == "sendMessage")
    assert len(texts) == 600 and set(texts.values()) == {1}
    assert (await Outbox(db, clock).counts())[OutboxState.SENT] == 600


async def test_only_the_advisory_lock_holder_dispatches(
    db: Database, second_db: Database, clock: FakeClock
) -> None:
    await Outbox(db, clock).enqueue_many(
        [NewMessage(key=f"k{i}", recipient_id=20_000 + i, kind="test", text=f"row {i}") for i in range(10)]
    )
    api = InProcessBotAPI()
    first_lock, second_lock = LeaderLock(db, "test-bot"), LeaderLock(second_db, "test-bot")
    first = Dispatcher(db, clock, make_bot(api), rate=1000, leader=first_lock)
    second = Dispatcher(second_db, clock, make_bot(api), rate=1000, leader=second_lock)
    try:
        assert (await first.tick()).sent == 10
        await Outbox(db, clock).enqueue(NewMessage(key="late", recipient_id=1, kind="test", text="late"))
        report = await second.tick()
        assert not report.leader and report.sent == 0
        # The leader goes away (its connection closes): the other process takes over.
        await first_lock.release()
        report = await second.tick()
        assert report.leader and report.sent == 1
        assert not await first_lock.acquire()
    finally:
        await first_lock.release()
        await second_lock.release()
