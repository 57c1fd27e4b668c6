"""Reminder ledgers: what each operator was reminded of about each nursery. Their text form, the version
guard that keeps two planners from sending one reminder twice, the migration that carried the older
per-obligation records over, and reminders that name their rule instead of carrying its texts."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.batch import collector_paused
from bot.clock import FakeClock
from bot.storage import migrate
from bot.storage.db import Database
from schedules.obligations import EMPTY_LEDGER, LEDGERS, Ledger, LedgerKey
from schedules.outbox import Outbox, OutboxState
from schedules.templates import RenderContext, render
from tests.schedules_support import SHANGHAI, add_nursery, add_user
from tests.test_compliance import at, planner


# -- the text form ------------------------------------------------------------------------------------
def test_an_empty_ledger_covers_nothing() -> None:
    assert not EMPTY_LEDGER.covers("annual_report", "2027", "2027-06-16")
    assert EMPTY_LEDGER.entries() == {}


def test_a_ledger_covers_its_reminder_day_and_earlier_ones_of_the_same_cycle() -> None:
    ledger = EMPTY_LEDGER.advanced([("annual_report", "2027", "2027-06-23"), ("filing", "0", "2027-01-08")])
    assert ledger.version == 1
    assert ledger.text == ";annual_report=2027@2027-06-23;filing=0@2027-01-08;"
    assert ledger.covers("annual_report", "2027", "2027-06-23")
    assert ledger.covers("annual_report", "2027", "2027-06-16")  # an older day: found by decoding
    assert not ledger.covers("annual_report", "2027", "2027-06-27")  # a newer day
    assert not ledger.covers("annual_report", "2028", "2028-06-16")  # the next cycle
    assert not ledger.covers("emergency_drill", "2027-01", "2027-06-16")  # another rule


def test_advancing_keeps_the_other_rules_and_replaces_the_cycle() -> None:
    first = Ledger.of(3, {"annual_report": ("2027", "2027-06-30"), "free_places": ("2027-06", "2027-06-01")})
    later = first.advanced([("annual_report", "2028", "2028-06-16")])
    assert later.version == 4
    assert later.entries() == {
        "annual_report": ("2028", "2028-06-16"),
        "free_places": ("2027-06", "2027-06-01"),
    }
    assert Ledger(later.version, later.text).entries() == later.entries()
    assert first.covers("annual_report", "2027", "2027-06-30")  # the ledger read is left as it was


def test_a_rule_whose_id_is_the_prefix_of_another_is_not_confused_with_it() -> None:
    ledger = EMPTY_LEDGER.advanced([("annual_report_x", "2027", "2027-06-30")])
    assert not ledger.covers("annual_report", "2027", "2027-06-16")


# -- exactly once ---------------------------------------------------------------------------------------
async def reminders(db: Database, clock: FakeClock, recipient: int) -> list[Any]:
    rows = await Outbox(db, clock).for_recipient(recipient)
    return [r for r in rows if r.kind == "reminder" and r.state is OutboxState.PENDING]


async def test_a_planner_that_read_a_stale_ledger_sends_nothing(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    await add_nursery(db, operators=(1001,))
    first, second = planner(db, clock, "annual_report"), planner(db, clock, "annual_report")
    clock.set(at("2027-06-16"))
    stale = await second.store.ledgers()
    assert (await first.plan()).messages == 1

    async def read_stale(**_kwargs: Any) -> dict[LedgerKey, Ledger]:
        return stale

    second.store.ledgers = read_stale  # type: ignore[method-assign]
    report = await second.plan()
    assert (report.reminders, report.messages) == (0, 0)
    assert len(await reminders(db, clock, 1001)) == 1


async def test_two_planners_at_once_send_each_reminder_once(db: Database, clock: FakeClock) -> None:
    operators = tuple(range(2001, 2011))
    for operator in operators:
        await add_user(db, operator)
        await add_nursery(db, operators=(operator,))
    planners = [planner(db, clock, "annual_report", "emergency_drill") for _ in range(3)]
    clock.set(at("2027-06-16"))
    reports = await asyncio.gather(*(p.plan() for p in planners))
    assert sum(r.messages for r in reports) == len(operators)
    for operator in operators:
        (row,) = await reminders(db, clock, operator)
        assert sorted(i["rule"] for i in row.params["items"]) == ["annual_report", "emergency_drill"]


async def test_each_operator_of_a_nursery_has_a_ledger_of_their_own(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    institution = await add_nursery(db, operators=(1001,))
    plan = planner(db, clock, "annual_report")
    clock.set(at("2027-06-16"))
    assert (await plan.plan()).messages == 1
    from bot.directory import repository as directory

    await add_user(db, 1002)
    (issued,) = await directory.claim_codes(db, [institution], reissue=True, now=clock.now())
    await directory.claim(db, issued.code, 1002, now=clock.now())
    clock.advance(minutes=5)
    assert (await plan.plan()).messages == 1  # the new operator hears of today's reminder too
    assert [len(await reminders(db, clock, u)) for u in (1001, 1002)] == [1, 1]
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(LEDGERS.c.recipient_id, LEDGERS.c.sent))).all()
    assert sorted(rows) == [(u, ";annual_report=2027@2027-06-16;") for u in (1001, 1002)]


# -- the migration --------------------------------------------------------------------------------------
async def test_upgrading_carries_what_was_sent_over_so_nothing_goes_again(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
    clock = FakeClock(at("2027-06-16"))
    try:
        await migrate.upgrade(db, "0005_broadcast")
        await add_user(db, 1001)
        institution = await add_nursery(db, operators=(1001,))
        stamp = "2027-06-16 01:00:00.000000"
        async with db.engine.begin() as conn:
            for rule, cycle, day in (
                ("annual_report", "2026", "2026-06-30"),
                ("annual_report", "2027", "2027-06-16"),
                ("emergency_drill", "2027-01", "2027-06-16"),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO obligation_reminders VALUES (:recipient, :institution, :rule, :cycle, :day, :at)"
                    ),
                    {"recipient": 1001, "institution": institution, "rule": rule, "cycle": cycle, "day": day,
                     "at": stamp},
                )  # fmt: skip
        assert await migrate.upgrade(db) == migrate.head_revision()
        async with db.engine.connect() as conn:
            (row,) = (await conn.execute(select(LEDGERS))).all()
        assert (row.recipient_id, row.institution_id, row.version) == (1001, institution, 1)
        assert Ledger(row.version, row.sent).entries() == {
            "annual_report": ("2027", "2027-06-16"),
            "emergency_drill": ("2027-01", "2027-06-16"),
        }
        assert (await planner(db, clock, "annual_report", "emergency_drill").plan()).messages == 0

        await migrate.downgrade(db, "0005_broadcast")
        async with db.engine.connect() as conn:
            back = (
                await conn.execute(text("SELECT rule_id, cycle, last_slot_on FROM obligation_reminders"))
            ).all()
        assert sorted(back) == [
            ("annual_report", "2027", "2027-06-16"),
            ("emergency_drill", "2027-01", "2027-06-16"),
        ]
    finally:
        await db.dispose()


# -- rendering ------------------------------------------------------------------------------------------
CONTEXT = RenderContext("en", dt.datetime(2027, 6, 16, 1, tzinfo=dt.UTC), zoneinfo.ZoneInfo("Asia/Shanghai"))


def item(rule: str, cycle: str = "2027", due: str = "2027-06-30") -> dict[str, Any]:
    return {
        "institution_id": 7,
        "name": "Sunshine",
        "rule": rule,
        "cycle": cycle,
        "due": due,
        "can_mark_done": True,
    }


def test_a_reminder_takes_its_texts_from_the_rules_file() -> None:
    rendered = render("compliance.reminders", {"items": [item("annual_report")]}, CONTEXT)
    assert rendered is not None
    assert rendered.text.startswith("⏰ Enterprise annual report\nSunshine: submit the annual report")
    assert "June 30, 2027 (in 14 days)" in rendered.text


def test_a_rule_gone_from_the_rules_file_is_left_out_of_the_reminder() -> None:
    params = {"items": [item("retired_rule"), item("annual_report")]}
    rendered = render("compliance.reminders", params, CONTEXT)
    assert rendered is not None and "deadlines need your attention" not in rendered.text
    assert [b["callback_data"] for b in rendered.reply_markup["inline_keyboard"][0]] == [  # type: ignore[index]
        "tk:d:7:annual_report:2027",
        "tk:l:7:annual_report:2027",
    ]
    assert render("compliance.reminders", {"items": [item("retired_rule")]}, CONTEXT) is None


async def test_planned_reminders_carry_the_rule_not_its_texts(db: Database, clock: FakeClock) -> None:
    await add_user(db, 1001)
    await add_nursery(db, operators=(1001,))
    clock.set(dt.datetime(2027, 6, 16, 9, tzinfo=SHANGHAI))
    await planner(db, clock, "annual_report").plan()
    (row,) = await reminders(db, clock, 1001)
    assert set(row.params["items"][0]) == {"institution_id", "name", "rule", "cycle", "due", "can_mark_done"}


# -- the collector pause --------------------------------------------------------------------------------
def test_the_collector_stays_off_until_the_last_batch_ends() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_is_left_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("planning failed")
    assert gc.isenabled()
