"""The outbox repository: idempotent enqueueing, claiming, leases after a crash, and a person's rows in
/mydata and /forget."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.clock import FakeClock
from bot.services import Services
from bot.storage.db import Database
from schedules.outbox import NewMessage, Outbox, OutboxState
from tests.schedules_support import add_user


def msg(key: str, recipient: int = 1001, **kwargs: object) -> NewMessage:
    return NewMessage(key=key, recipient_id=recipient, kind="test", text=f"text of {key}", **kwargs)  # type: ignore[arg-type]


async def test_enqueue_is_insert_or_ignore_by_key(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(db, clock)
    assert await outbox.enqueue(msg("a"))
    assert not await outbox.enqueue(NewMessage(key="a", recipient_id=9, kind="other", text="different"))
    assert await outbox.enqueue_many([msg("a"), msg("b"), msg("b"), msg("c")]) == ["b", "c"]
    entry = await outbox.get("a")
    assert entry is not None and entry.recipient_id == 1001 and entry.text == "text of a"
    assert (await outbox.counts())[OutboxState.PENDING] == 3


async def test_bulk_enqueues_in_one_transaction_keep_every_value_and_roll_back_together(
    db: Database, clock: FakeClock
) -> None:
    outbox = Outbox(db, clock)
    later = clock.now() + dt.timedelta(days=2)
    params = {"items": [{"name": "阳光", "due": "2027-06-30", "flag": True}], "n": None}
    many = [
        msg(f"k{i}", recipient=2000 + i, template=None, priority=7, not_before=later) for i in range(1500)
    ]
    async with db.engine.begin() as conn:
        assert len(await outbox.enqueue_many(many, conn=conn)) == 1500
        # A second bulk insert into the same table in the same transaction: only the new keys go in.
        again = [
            msg("k0"),
            NewMessage(key="t1", recipient_id=7, kind="test", template="message", params=params),
        ]
        assert await outbox.enqueue_many(again, conn=conn) == ["t1"]
        # A third, big enough again for PostgreSQL's COPY path: its staging table is reused, empty.
        more = [msg(f"more{i}", recipient=5000 + i) for i in range(600)] + [msg("k1")]
        assert len(await outbox.enqueue_many(more, conn=conn)) == 600
    entry = await outbox.get("k1499")
    assert entry is not None
    assert (entry.recipient_id, entry.priority, entry.next_attempt_at, entry.text) == (
        3499,
        7,
        later,
        "text of k1499",
    )
    templated = await outbox.get("t1")
    assert templated is not None and templated.params == params and templated.reply_markup is None

    async def crash_before_the_commit() -> None:
        async with db.engine.begin() as conn:
            assert await outbox.enqueue_many([msg("gone")], conn=conn) == ["gone"]
            raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        await crash_before_the_commit()
    assert await outbox.get("gone") is None


def test_a_message_needs_text_or_a_template_and_aware_times() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        NewMessage(key="k", recipient_id=1, kind="t")
    with pytest.raises(ValueError, match="timezone-aware"):
        NewMessage(key="k", recipient_id=1, kind="t", text="x", not_before=dt.datetime(2027, 1, 1))  # noqa: DTZ001


async def test_claim_takes_due_rows_most_urgent_first_and_only_once(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(db, clock)
    later = clock.now() + dt.timedelta(hours=1)
    await outbox.enqueue_many(
        [msg("broadcast", priority=100), msg("reminder", priority=10), msg("tomorrow", not_before=later)]
    )
    first = await outbox.claim("w1", 10)
    assert [e.key for e in first] == ["reminder", "broadcast"]
    assert all(e.state is OutboxState.SENDING and e.attempts == 1 and e.claimed_by == "w1" for e in first)
    assert await outbox.claim("w2", 10) == []
    clock.advance(hours=1)
    assert [e.key for e in await outbox.claim("w2", 10)] == ["tomorrow"]


async def test_a_crashed_claim_returns_after_the_lease_and_sent_rows_never_do(
    db: Database, clock: FakeClock
) -> None:
    outbox = Outbox(db, clock)
    await outbox.enqueue_many([msg("x"), msg("y")])
    x, y = await outbox.claim("dead-worker", 10)
    assert await outbox.mark_sent(x.id, 555)
    lease = dt.timedelta(seconds=60)
    assert await outbox.release_expired(lease) == 0  # still within the lease
    clock.advance(seconds=61)
    assert await outbox.release_expired(lease) == 1
    again = await outbox.claim("new-worker", 10)
    assert [e.key for e in again] == ["y"] and again[0].attempts == 2
    # The dead worker's late answers change nothing any more.
    assert not await outbox.mark_failed(y.id, "dead-worker", "late")
    sent = await outbox.get("x")
    assert sent is not None and sent.state is OutboxState.SENT and sent.telegram_message_id == 555


async def test_blocking_closes_the_persons_waiting_rows_and_broadcasts(
    db: Database, clock: FakeClock
) -> None:
    from bot.storage.models import User

    await add_user(db, 1001)
    outbox = Outbox(db, clock)
    await outbox.enqueue_many([msg("p1"), msg("p2"), msg("other", recipient=2002)])
    assert await outbox.mark_blocked(1001) == 2
    counts = await outbox.counts()
    assert counts[OutboxState.BLOCKED] == 2 and counts[OutboxState.PENDING] == 1
    async with db.session() as session:
        user = await session.get(User, 1001)
        assert (
            user is not None and user.blocked_at == clock.now() and user.broadcasts_enabled
        )  # their choice stays


async def test_someone_who_unblocks_the_bot_gets_broadcasts_again(services: Services) -> None:
    from schedules.broadcasts import Audience, Campaigns

    await add_user(services.db, 1001)
    campaigns = Campaigns(services.db, services.clock, services.settings)
    before = await campaigns.count(Audience())
    await Outbox(services.db, services.clock).mark_blocked(1001)
    assert await campaigns.count(Audience()) == before - 1
    profile = await services.accounts.touch(1001)  # they wrote to the bot again
    assert profile.broadcasts_enabled and await campaigns.count(Audience()) == before


async def test_cancel_and_defer(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(db, clock)
    await outbox.enqueue_many([msg("snooze:1:a:1"), msg("snooze:1:a:2"), msg("snooze:10:a:1"), msg("keep")])
    assert await outbox.cancel(key_prefix="snooze:1:") == 2
    with pytest.raises(ValueError, match="condition"):
        await outbox.cancel()
    claimed = await outbox.claim("w", 10)
    until = clock.now() + dt.timedelta(seconds=30)
    assert await outbox.defer([e.id for e in claimed], "w", until) == 2
    back = await outbox.get("keep")
    assert back is not None and back.attempts == 0 and back.next_attempt_at == until
    assert await outbox.next_due_at() == until


async def test_mydata_shows_and_forget_deletes_a_persons_messages(services: Services) -> None:
    db, clock = services.db, services.clock
    await add_user(db, 1001)
    outbox = Outbox(db, clock)
    await outbox.enqueue_many([msg("mine"), msg("theirs", recipient=2002)])
    exported = await services.accounts.export(1001)
    assert [row["key"] for row in exported["outbox"]] == ["mine"]
    await services.accounts.forget(1001)
    assert await outbox.get("mine") is None
    assert await outbox.get("theirs") is not None
