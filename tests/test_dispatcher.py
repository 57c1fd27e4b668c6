"""The dispatcher through the in-process Bot API on virtual time: pacing measured on the recorded calls,
429 pauses, 5xx and network retries with backoff, 403 blocking, restarts, and the time budget."""

from __future__ import annotations

import datetime as dt

from bot.clock import FakeClock
from bot.storage.db import Database
from bot.transport import InProcessBotAPI, Reply, network_failure, timeout_failure
from schedules.dispatcher import Backoff, Dispatcher, OutgoingMessage
from schedules.outbox import NewMessage, Outbox, OutboxState
from tests.schedules_support import CallLog, add_user, make_dispatcher, sent_texts


def msg(key: str, recipient: int, **kwargs: object) -> NewMessage:
    return NewMessage(key=key, recipient_id=recipient, kind="test", text=f"text {key}", **kwargs)  # type: ignore[arg-type]


async def fill(db: Database, clock: FakeClock, recipients: int, per_recipient: int = 1) -> None:
    await Outbox(db, clock).enqueue_many(
        [msg(f"m{r}-{i}", 5000 + r) for i in range(per_recipient) for r in range(recipients)]
    )


async def test_the_per_second_cap_is_never_exceeded(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=120)
    dispatcher, vt, log = make_dispatcher(db, clock, api, rate=25)
    report = await dispatcher.run_until_idle()
    assert report.sent == 120
    assert log.max_in_window(1.0) == 25
    # 120 messages at 25 a second: four full seconds of waiting and a partial fifth.
    assert 4.0 <= vt.now < 5.0


async def test_one_message_a_second_per_chat(db: Database, clock: FakeClock, api: InProcessBotAPI) -> None:
    await fill(db, clock, recipients=3, per_recipient=4)
    dispatcher, _vt, log = make_dispatcher(db, clock, api, rate=25)
    await dispatcher.run_until_idle()
    for chat in (5000, 5001, 5002):
        assert log.max_in_window(1.0, chat) == 1
        assert sent_texts(api, chat) == [f"text m{chat - 5000}-{i}" for i in range(4)]


async def test_a_429_pauses_all_sending_for_retry_after(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=10)
    dispatcher, _vt, log = make_dispatcher(db, clock, api, rate=25, max_in_flight=1)
    log.script[3] = Reply(429, "Too Many Requests: retry after 7", retry_after=7)
    report = await dispatcher.run_until_idle()
    assert report.rate_limited == 1 and report.sent == 10
    times = [s.at for s in log.stamps]
    assert (
        times[2] - times[0] < 0.1
    )  # the first three went at once (spread out a little); the third got the 429
    assert all(t >= times[2] + 7 for t in times[3:])  # nobody was sent anything during the pause
    counts = await Outbox(db, clock).counts()
    assert counts[OutboxState.SENT] == 10
    retried = await Outbox(db, clock).get("m2-0")
    assert retried is not None and retried.attempts == 1  # the 429 did not spend an attempt


async def test_5xx_and_network_errors_back_off_then_succeed(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=1)
    dispatcher, vt, log = make_dispatcher(db, clock, api, backoff=Backoff(dt.timedelta(seconds=10)))
    log.per_chat[5000] = [Reply(500, "Internal Server Error"), network_failure(), timeout_failure()]
    start = clock.now()
    total = 0
    for _ in range(4):
        report = await dispatcher.run_until_idle()
        total += report.sent
        pending = await Outbox(db, clock).get("m0-0")
        assert pending is not None
        if pending.state is OutboxState.SENT:
            break
        clock.set(pending.next_attempt_at)
    assert total == 1
    entry = await Outbox(db, clock).get("m0-0")
    assert entry is not None and entry.attempts == 4
    # Backoff of 10, 20 and 40 seconds between the four attempts.
    assert clock.now() - start >= dt.timedelta(seconds=70)
    assert len(log.stamps) == 4 and vt.now < 5


async def test_transient_failures_give_up_after_the_limit(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=1)
    dispatcher, _vt, log = make_dispatcher(
        db, clock, api, max_attempts=3, backoff=Backoff(dt.timedelta(seconds=1))
    )
    log.per_chat[5000] = [Reply(502, "Bad Gateway")] * 5
    for _ in range(5):
        await dispatcher.run_until_idle()
        clock.advance(minutes=5)
    entry = await Outbox(db, clock).get("m0-0")
    assert entry is not None and entry.state is OutboxState.FAILED and entry.attempts == 3
    assert entry.last_error is not None and entry.last_error.startswith("gave up")
    assert len(log.stamps) == 3


async def test_a_network_outage_stops_the_tick_instead_of_spending_every_row(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=50)
    dispatcher, _vt, log = make_dispatcher(db, clock, api, max_in_flight=1)
    api.faults.append(lambda method, params: network_failure() if method == "sendMessage" else None)
    report = await dispatcher.run_until_idle()
    assert len(log.stamps) == 3
    assert report.retried == 3 and report.deferred == 47
    counts = await Outbox(db, clock).counts()
    assert counts[OutboxState.PENDING] == 50 and counts[OutboxState.FAILED] == 0


async def test_a_403_marks_the_person_blocked_and_closes_their_rows(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    from bot.storage.models import User

    await add_user(db, 5001)
    await fill(db, clock, recipients=3, per_recipient=3)
    api.blocked_chats.add(5001)
    dispatcher, _vt, log = make_dispatcher(db, clock, api)
    report = await dispatcher.run_until_idle()
    assert report.blocked == 1 and report.sent == 6
    assert [s.chat_id for s in log.stamps].count(5001) == 1  # tried once, never again
    for entry in await Outbox(db, clock).for_recipient(5001):
        assert entry.state is OutboxState.BLOCKED
    async with db.session() as session:
        user = await session.get(User, 5001)
        assert (
            user is not None and user.blocked_at is not None and user.broadcasts_enabled
        )  # their choice stays


async def test_a_bad_request_fails_the_row_only(db: Database, clock: FakeClock, api: InProcessBotAPI) -> None:
    outbox = Outbox(db, clock)
    await outbox.enqueue_many(
        [msg("ok", 1), NewMessage(key="bad", recipient_id=2, kind="t", text="<b>x", parse_mode="HTML")]
    )
    dispatcher, _vt, _log = make_dispatcher(db, clock, api)
    report = await dispatcher.run_until_idle()
    assert report.sent == 1 and report.failed == 1
    bad = await outbox.get("bad")
    assert bad is not None and bad.state is OutboxState.FAILED and "parse" in (bad.last_error or "")


async def test_a_restart_mid_run_loses_nothing_and_repeats_only_in_flight_rows(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=30)
    outbox = Outbox(db, clock)
    first, _vt, log = make_dispatcher(db, clock, api, rate=10)
    # The process dies after ten sends: the rows it had claimed stay in "sending".
    await first.tick(budget=0.5)
    sent_before = {s.chat_id for s in log.stamps}
    crashed = await outbox.claim(first.worker, 5)  # claimed, and the process is gone before sending
    assert len(crashed) == 5
    second, _vt2, _log2 = make_dispatcher(db, clock, api, rate=10)
    await second.run_until_idle()
    assert (await outbox.counts())[OutboxState.SENDING] == 5  # within their lease: not touched yet
    clock.advance(seconds=61)
    await second.run_until_idle()
    counts = await outbox.counts()
    assert counts[OutboxState.SENT] == 30 and counts[OutboxState.PENDING] == counts[OutboxState.SENDING] == 0
    chats = [c.chat_id or 0 for c in api.sent() if c.method == "sendMessage"]
    assert sorted(chats) == sorted(set(chats))  # nothing was sent twice
    assert sent_before <= set(chats)


async def test_a_tick_keeps_to_its_budget_and_hands_back_what_it_did_not_send(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await fill(db, clock, recipients=100)
    dispatcher, vt, _log = make_dispatcher(db, clock, api, rate=20)
    report = await dispatcher.tick(budget=0.9)
    assert report.sent == 20 and vt.now < 1.0
    counts = await Outbox(db, clock).counts()
    assert (
        counts[OutboxState.SENT] == 20
        and counts[OutboxState.PENDING] == 80
        and counts[OutboxState.SENDING] == 0
    )


async def test_templates_render_in_the_recipients_language_at_send_time(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await add_user(db, 7001, language="en")
    await add_user(db, 7002, language="zh_Hans")
    outbox = Outbox(db, clock)
    params = {"msgid": "Nothing was deleted."}
    await outbox.enqueue_many(
        [
            NewMessage(key=f"t{u}", recipient_id=u, kind="test", template="message", params=params)
            for u in (7001, 7002)
        ]
        + [NewMessage(key="unknown", recipient_id=7001, kind="test", template="no.such.template")]
    )
    dispatcher, _vt, _log = make_dispatcher(db, clock, api)
    report = await dispatcher.run_until_idle()
    assert report.sent == 2 and report.failed == 1
    assert sent_texts(api, 7001) == ["Nothing was deleted."]
    assert sent_texts(api, 7002) != ["Nothing was deleted."]


async def test_a_plain_send_function_works_as_the_channel(db: Database, clock: FakeClock) -> None:
    delivered: list[OutgoingMessage] = []

    async def send(message: OutgoingMessage) -> int:
        delivered.append(message)
        return len(delivered)

    await Outbox(db, clock).enqueue(
        msg("one", 1, reply_markup={"inline_keyboard": [[{"text": "A", "url": "https://a.example"}]]})
    )
    report = await Dispatcher(db, clock, send, rate=25).run_until_idle()
    assert report.sent == 1 and delivered[0].reply_markup is not None
    entry = await Outbox(db, clock).get("one")
    assert entry is not None and entry.telegram_message_id == 1


async def test_paid_broadcasting_speeds_campaigns_up_and_nothing_else(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    outbox = Outbox(db, clock)
    await outbox.enqueue_many([msg(f"r{i}", 7000 + i, priority=10) for i in range(50)])
    await outbox.enqueue_many(
        [NewMessage(key=f"b{i}", recipient_id=8000 + i, kind="broadcast", text="news") for i in range(600)]
    )
    dispatcher, vt, log = make_dispatcher(db, clock, api, rate=25, paid_broadcast=True, paid_rate=1000)
    report = await dispatcher.run_until_idle()
    assert report.sent == 650
    calls = [c for c in api.calls if c.method == "sendMessage"]
    assert {bool(c.params.get("allow_paid_broadcast")) for c in calls if c.params["chat_id"] >= 8000} == {
        True
    }
    assert not any(c.params.get("allow_paid_broadcast") for c in calls if c.params["chat_id"] < 8000)
    assert log.max_in_window(1.0) <= 1000
    assert max(log.max_in_window(1.0, chat) for chat in range(7000, 7050)) == 1
    free = CallLog(vt)
    free.stamps = [s for s in log.stamps if s.chat_id is not None and s.chat_id < 8000]
    assert free.max_in_window(1.0) == 25
    # The campaign does not wait behind the reminders: all of it goes in the first second, beside the first
    # 25 reminders (at 25 a second for everything, 650 messages would take 26 s).
    assert max(s.at for s in log.stamps if s.chat_id is not None and s.chat_id >= 8000) < 1.0
    assert vt.now < 3.0
