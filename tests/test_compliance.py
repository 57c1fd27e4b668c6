"""The compliance planner against the database: reminders on their days and only once, outages coalesced,
a crash in the middle of planning, time-zone edges, blocked operators, done and later, the digest."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
import yaml
from sqlalchemy import update
from sqlmodel import col

from bot.clock import FakeClock
from bot.directory.models import Institution
from bot.storage.db import Database
from bot.storage.models import AuditEvent
from bot.transport import InProcessBotAPI
from schedules.compliance import Compliance, ComplianceError
from schedules.outbox import Outbox, OutboxState
from schedules.rules import RULES_FILE, RuleBook, parse_rules
from tests.conftest import ADMIN_ID
from tests.schedules_support import SHANGHAI, add_nursery, add_user, make_dispatcher, sent_texts


def book(*ids: str) -> RuleBook:
    data: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["rules"] = [r for r in data["rules"] if r["id"] in ids]
    return parse_rules(data)


def at(day: str, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=SHANGHAI)


def planner(db: Database, clock: FakeClock, *ids: str) -> Compliance:
    return Compliance(db, clock, tz="Asia/Shanghai", admin_ids={ADMIN_ID}, rules=book(*ids))


async def reminder_rows(db: Database, clock: FakeClock, recipient: int) -> list[Any]:
    return [e for e in await Outbox(db, clock).for_recipient(recipient) if e.kind == "reminder"]


def items(entry: Any) -> list[tuple[str, str]]:
    return [(i["rule"], i["cycle"]) for i in entry.params["items"]]


async def test_reminders_go_out_on_their_days_and_only_once(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await add_user(db, 1001, language="en")
    institution = await add_nursery(db, operators=(1001,), name="Sunshine Nursery")
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-15"))
    assert (await plan.plan()).messages == 0
    clock.set(at("2027-06-16", 8, 59))
    assert (await plan.plan()).messages == 0
    clock.set(at("2027-06-16"))
    assert (await plan.plan()).messages == 1
    assert (await plan.plan()).messages == 0  # the same moment again: nothing more
    clock.advance(minutes=5)
    assert (await plan.plan()).messages == 0
    dispatcher, _vt, _log = make_dispatcher(db, clock, api)
    await dispatcher.run_until_idle()
    (text,) = sent_texts(api, 1001)
    assert "Enterprise annual report" in text and "Sunshine Nursery" in text and "in 14 days" in text
    call = api.sent(1001)[-1]
    assert [b["callback_data"] for b in call.buttons] == [
        f"tk:d:{institution}:annual_report:2027",
        f"tk:l:{institution}:annual_report:2027",
    ]
    clock.set(at("2027-06-23"))
    assert (await plan.plan()).messages == 1
    rows = await reminder_rows(db, clock, 1001)
    assert len(rows) == 2


async def test_a_two_day_outage_sends_one_coalesced_message(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await add_user(db, 1001, language="en")
    await add_nursery(db, operators=(1001,), name="A")
    await add_nursery(db, operators=(1001,), name="B")
    plan = planner(db, clock, "annual_report", "emergency_drill")
    clock.set(at("2027-06-15"))
    assert (await plan.plan()).messages == 0
    # Down from the 16th to the 18th: the 16th's reminders (two nurseries, two duties) were never planned.
    clock.set(at("2027-06-18", 10))
    report = await plan.plan()
    assert (report.reminders, report.messages) == (4, 1)
    assert (await plan.plan()).messages == 0
    dispatcher, _vt, _log = make_dispatcher(db, clock, api)
    await dispatcher.run_until_idle()
    (text,) = sent_texts(api, 1001)
    assert text.startswith("⏰ 4 deadlines need your attention")
    assert len(api.sent(1001)[-1].buttons) == 8
    # A longer outage over two reminder days of the same duty: the newest one only, once.
    clock.set(at("2027-06-28", 15))
    report = await plan.plan()
    assert (report.reminders, report.messages) == (4, 1)
    (latest,) = [e for e in await reminder_rows(db, clock, 1001) if e.state is OutboxState.PENDING]
    assert sorted(items(latest)) == [
        ("annual_report", "2027"), ("annual_report", "2027"), ("emergency_drill", "2027-01"), ("emergency_drill", "2027-01"),
    ]  # fmt: skip


async def test_a_crash_in_the_middle_of_planning_leaves_nothing_half_done(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_user(db, 1001)
    await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-16"))
    real = Outbox.enqueue_many

    async def crash(self: Outbox, *args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("killed")

    monkeypatch.setattr(Outbox, "enqueue_many", crash)
    with pytest.raises(RuntimeError):
        await plan.plan()
    monkeypatch.setattr(Outbox, "enqueue_many", real)
    assert await reminder_rows(db, clock, 1001) == []
    assert (await plan.plan()).messages == 1  # the marks rolled back with the messages


async def test_the_day_turns_at_shanghai_time(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "annual_report")
    # 15 June 23:59 UTC is already 16 June in Shanghai, but 07:59: not yet the reminder's hour.
    clock.set(dt.datetime(2027, 6, 15, 23, 59, tzinfo=dt.UTC))
    assert (await plan.plan()).messages == 0
    clock.set(dt.datetime(2027, 6, 16, 1, 0, tzinfo=dt.UTC))  # 09:00 in Shanghai, still 16 June in UTC
    assert (await plan.plan()).messages == 1
    # The due day: 29 June 16:00 UTC is midnight of the 30th in Shanghai; the reminder waits for 09:00.
    clock.set(dt.datetime(2027, 6, 29, 1, 0, tzinfo=dt.UTC))
    assert (await plan.plan()).messages == 1
    clock.set(dt.datetime(2027, 6, 29, 16, 0, tzinfo=dt.UTC))
    assert (await plan.plan()).messages == 0
    clock.set(dt.datetime(2027, 6, 30, 1, 0, tzinfo=dt.UTC))
    assert (await plan.plan()).messages == 1


async def test_late_planning_waits_for_the_morning(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-16", 23, 30))  # the bot was down all day and comes back at night
    assert (await plan.plan()).messages == 1
    (row,) = await reminder_rows(db, clock, 1001)
    assert row.next_attempt_at == at("2027-06-17", 8)


async def test_blocked_operators_are_not_reminded(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await add_user(db, 1001, language="en")
    await add_user(db, 1002, language="en")
    await add_nursery(db, operators=(1001, 1002))
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-16"))
    assert (await plan.plan()).messages == 2
    api.blocked_chats.add(1002)
    dispatcher, _vt, _log = make_dispatcher(db, clock, api)
    report = await dispatcher.run_until_idle()
    assert (report.sent, report.blocked) == (1, 1)
    clock.set(at("2027-06-23"))
    assert (await plan.plan()).messages == 1
    assert len(await reminder_rows(db, clock, 1002)) == 1  # only the one that bounced


async def test_done_stops_the_cycles_reminders_and_is_audited(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    await add_user(db, 1002)
    institution = await add_nursery(db, operators=(1001, 1002))
    plan = planner(db, clock, "annual_report", "filing")
    clock.set(at("2027-06-16"))
    await plan.plan()
    result = await plan.mark_done(1001, institution, "annual_report", "2027")
    assert not result.already and result.obligation.done
    assert (await plan.mark_done(1002, institution, "annual_report", "2027")).already
    clock.set(at("2027-06-23"))
    assert (await plan.plan()).messages == 0  # neither operator hears of it again this cycle
    async with db.session() as session:
        from sqlmodel import select

        events = list(await session.exec(select(AuditEvent).where(AuditEvent.action == "compliance.done")))
    assert (
        len(events) == 1 and events[0].actor_id == 1001 and events[0].target == f"institution:{institution}"
    )
    with pytest.raises(ComplianceError, match="not_operator"):
        await plan.mark_done(4242, institution, "annual_report", "2027")
    with pytest.raises(ComplianceError, match="unknown_obligation"):
        await plan.mark_done(1001, institution, "annual_report", "2031")
    clock.set(at("2028-06-16"))  # the next cycle is reminded again
    assert (await plan.plan()).messages == 2


async def test_filing_cannot_be_marked_done_it_stops_when_filed(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    institution = await add_nursery(db, operators=(1001,), registered_on=dt.date(2026, 12, 1), filed_on=None)
    plan = planner(db, clock, "filing")
    clock.set(at("2027-01-15"))
    assert (await plan.plan()).messages == 1
    with pytest.raises(ComplianceError, match="not_markable"):
        await plan.mark_done(1001, institution, "filing", "2026-12-01")
    async with db.session() as session:
        await session.exec(
            update(Institution)
            .where(col(Institution.id) == institution)
            .values(filed_on=dt.date(2027, 1, 16))
        )
    clock.set(at("2027-01-19"))
    assert (await plan.plan()).messages == 0


async def test_later_brings_the_reminder_back_tomorrow_and_done_cancels_it(
    db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    await add_user(db, 1001, language="en")
    institution = await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-27", 10))
    await plan.plan()
    until = await plan.snooze(1001, institution, "annual_report", "2027")
    assert until == at("2027-06-28")
    snoozed = [e for e in await reminder_rows(db, clock, 1001) if e.key.startswith("snooze:")]
    assert len(snoozed) == 1 and snoozed[0].next_attempt_at == until
    clock.set(at("2027-06-29"))  # a reminder day after the snooze: planned as usual
    assert (await plan.plan()).messages == 1
    await plan.mark_done(1001, institution, "annual_report", "2027")
    entry = await Outbox(db, clock).get(snoozed[0].key)
    assert entry is not None and entry.state is OutboxState.CANCELLED


async def test_snoozed_days_are_skipped_until_the_snooze_ends(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    institution = await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-28", 10))
    await plan.plan()  # the 27th's reminder
    await plan.snooze(1001, institution, "annual_report", "2027")  # until the 29th 09:00
    clock.set(at("2027-06-29"))
    assert (await plan.plan()).messages == 0  # the snoozed reminder covers the 29th
    clock.set(at("2027-06-30"))
    assert (await plan.plan()).messages == 1


async def test_free_places_updated_this_month_need_no_reminder(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    institution = await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "free_places")
    async with db.session() as session:
        await session.exec(
            update(Institution)
            .where(col(Institution.id) == institution)
            .values(vacancies_updated_at=at("2027-03-01", 8))
        )
    clock.set(at("2027-03-01", 10))
    assert (await plan.plan()).messages == 0
    clock.set(at("2027-04-01", 10))
    assert (await plan.plan()).messages == 1


async def test_the_commission_gets_a_weekly_digest_of_escalated_nurseries(
    db: Database, clock: FakeClock
) -> None:
    await add_nursery(db, registered_on=dt.date(2027, 1, 1), filed_on=None, district="湖里区")
    await add_nursery(
        db, registered_on=dt.date(2027, 2, 20), filed_on=None, district="思明区"
    )  # not 30 days yet
    await add_user(db, 3003, role="commission")
    plan = planner(db, clock, "filing")
    clock.set(at("2027-03-07", 12))  # a Sunday: this week's digest would have gone on Monday
    await plan.plan()
    clock.set(at("2027-03-08", 8))  # Monday, before nine
    assert (await plan.plan()).digests == 0
    clock.set(at("2027-03-08", 9))
    assert (await plan.plan()).digests == 2  # the configured admin and the commission user
    assert (await plan.plan()).digests == 0
    entry = await Outbox(db, clock).get(f"digest:{ADMIN_ID}:2027-W10")
    assert entry is not None and entry.params == {
        "week": "2027-W10", "nurseries": 1, "obligations": 1, "districts": [["湖里区", 1]],
    }  # fmt: skip
    overdue = await plan.overdue()
    assert [(o.nursery.district, o.rule.id) for o in overdue] == [("湖里区", "filing")]
    clock.set(at("2027-03-16", 9))  # Tuesday of the next week, after an outage on Monday
    assert (await plan.plan()).digests == 2


async def test_preview_lists_what_is_due_now_and_what_comes(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    await add_nursery(db, operators=(1001,), code="91350200MA2XK0QJ1T")
    await add_nursery(db)  # no operator: left out unless asked for by code
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-20"))
    preview = await plan.preview(days=10)
    assert [(p.send_at.astimezone(SHANGHAI).date().isoformat(), p.status) for p in preview] == [
        ("2027-06-16", "due now"), ("2027-06-23", "upcoming"), ("2027-06-27", "upcoming"), ("2027-06-29", "upcoming"),
        ("2027-06-30", "upcoming"),
    ]  # fmt: skip
    await plan.plan()
    assert (await plan.preview(days=0))[0].status == "sent"


async def test_render_counts_days_at_send_time_in_the_readers_language() -> None:
    from schedules.templates import RenderContext, render

    item = {
        "institution_id": 7, "name": "阳光", "rule": "annual_report", "cycle": "2027",
        "title": "Enterprise annual report", "message": "{name}: submit the annual report through the national "
        "enterprise credit information system by {due}. A late report puts the business on the abnormal-operations list.",
        "due": "2027-06-30", "can_mark_done": True,
    }  # fmt: skip
    context = RenderContext(
        "en", dt.datetime(2027, 7, 2, 1, tzinfo=dt.UTC), zoneinfo.ZoneInfo("Asia/Shanghai")
    )
    rendered = render("compliance.reminders", {"items": [item]}, context)
    assert rendered is not None and "Overdue since June 30, 2027 (2 days)" in rendered.text
    assert render("compliance.reminders", {"items": []}, context) is None


async def test_deadlines_before_a_nursery_was_listed_are_not_counted(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    listed = at("2027-06-10")
    await add_nursery(db, operators=(1001,), listed=listed)
    await add_nursery(db, operators=(1001,), listed=listed, registered_on=dt.date(2027, 1, 5), filed_on=None)
    plan = planner(db, clock, "year_end_report", "annual_report", "filing")
    clock.set(at("2027-06-16"))
    await plan.plan()
    (row,) = await reminder_rows(db, clock, 1001)
    # Last year's year-end report fell due before the bot knew the nursery: unknown, not overdue. The
    # filing is read from the register, so it counts however old. (The second nursery, registered in
    # 2027, has no annual report until next year.)
    assert sorted(items(row)) == [("annual_report", "2027"), ("filing", "2027-01-05")]
    assert [o.rule.id for o in await plan.overdue()] == ["filing"]


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        ("2027-06-30", "Due June 30, 2027 (in 3 days)"),
        ("2027-06-28", "Due tomorrow (June 28, 2027)"),
        ("2027-06-27", "Due today (June 27, 2027)"),
        ("2027-06-26", "Overdue since yesterday (June 26, 2027)"),
        ("2027-06-20", "Overdue since June 20, 2027 (7 days)"),
    ],
)
def test_status_lines(due: str, expected: str) -> None:
    from schedules.compliance import status_line
    from schedules.templates import RenderContext

    context = RenderContext(
        "en", dt.datetime(2027, 6, 27, 1, tzinfo=dt.UTC), zoneinfo.ZoneInfo("Asia/Shanghai")
    )
    assert status_line(dt.date.fromisoformat(due), context.today, context) == expected


async def test_the_digest_goes_to_staff_who_can_be_written_to(db: Database, clock: FakeClock) -> None:
    from sqlalchemy import update as sql_update

    from bot.storage.models import User

    await add_user(db, 5001, role="commission")  # a consenting user with the commission role
    await add_user(db, 5002, role="commission")
    await add_user(db, 5003, role="parent")
    await add_user(db, ADMIN_ID, role=None)
    async with db.engine.begin() as conn:
        await conn.execute(
            sql_update(User).where(col(User.id).in_([5002, ADMIN_ID])).values(blocked_at=clock.now())
        )
    store = planner(db, clock, "filing").store
    assert await store.commission_staff([ADMIN_ID, 900002]) == [5001, 900002]  # 900002 never started the bot
