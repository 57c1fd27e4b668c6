"""Benchmark of proactive delivery: compliance planning for 20,000 nurseries, and dispatcher throughput with
the rate limit lifted through the in-process Bot API, beside bare ``Bot.send_message`` calls. Prints only."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import fresh_database  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402
from telegram import Bot  # noqa: E402

import bot.storage.models  # noqa: E402,F401  (registers every table)
from bot.app import LOCAL_TOKEN  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.storage.db import Database  # noqa: E402
from bot.transport import InProcessBotAPI  # noqa: E402
from schedules.compliance import Compliance  # noqa: E402
from schedules.dispatcher import Dispatcher  # noqa: E402
from schedules.outbox import NewMessage, Outbox  # noqa: E402
from schedules.pacing import Pacer  # noqa: E402

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
SEED = 20270616
LIFTED = 1e9  # messages a second: the cap out of the way, to measure everything else


async def fill_register(db: Database, count: int) -> None:
    """``count`` nurseries with one operator each: mostly enterprises, a quarter non-profits, 10% unfiled."""
    rng = random.Random(SEED)
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    forms = ["enterprise"] * 6 + ["private_non_enterprise"] * 3 + ["public_institution", "home_based"]
    districts = ["思明区", "湖里区", "海沧区", "集美区", "同安区", "翔安区"]
    institutions, users, links = [], [], []
    for i in range(1, count + 1):
        unfiled = rng.random() < 0.1
        registered = (
            dt.date(2027, 6, 16) - dt.timedelta(days=rng.randint(10, 120))
            if unfiled
            else dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2000))
        )
        institutions.append(
            {
                "id": i, "name": f"托育园{i}", "name_key": f"托育园{i}", "credit_code": f"BENCH{i:013d}",
                "legal_form": rng.choice(forms), "inclusive": False, "district": rng.choice(districts),
                "lat": 24.45, "lon": 118.08, "infant_capacity": 0, "toddler_capacity": 0, "older_capacity": 0,
                "mixed_capacity": 0, "offers_full_day": True, "offers_half_day": False, "offers_hourly": False,
                "offers_temporary": False, "registered_on": registered,
                "filed_on": None if unfiled else registered + dt.timedelta(days=20), "is_sample": False,
                "created_at": stamp, "updated_at": stamp,
            }
        )  # fmt: skip
        user_id = 10_000_000 + i
        users.append({"id": user_id, "language": "zh_Hans", "role": "operator", "consent_at": stamp,
                      "broadcasts_enabled": True, "created_at": stamp, "updated_at": stamp})  # fmt: skip
        links.append({"institution_id": i, "telegram_user_id": user_id, "claimed_at": stamp})
    async with db.engine.begin() as conn:
        for name, rows in (
            ("institutions", institutions),
            ("users", users),
            ("institution_operators", links),
        ):
            for start in range(0, len(rows), 500):
                await conn.execute(insert(SQLModel.metadata.tables[name]), rows[start : start + 500])


PLANNING_RUNS = (
    ("first run (everything due is planned)", None),
    ("same moment again (nothing new)", None),
    ("next reminder day (2027-06-23)", dt.datetime(2027, 6, 23, 9, tzinfo=SHANGHAI)),
    ("five minutes later (nothing new)", dt.datetime(2027, 6, 23, 9, 5, tzinfo=SHANGHAI)),
)


async def bench_planning(db: Database, count: int) -> dict[str, float]:
    """One round on a fresh register: the baseline read, the four planning runs, /overdue; seconds each."""
    clock = FakeClock(dt.datetime(2027, 6, 16, 9, tzinfo=SHANGHAI))
    compliance = Compliance(db, clock, tz="Asia/Shanghai", admin_ids={900001})
    t0 = time.perf_counter()
    await fill_register(db, count)
    print(
        f"  register: {count:,} nurseries with an operator each, loaded in {time.perf_counter() - t0:.2f} s"
    )
    seconds: dict[str, float] = {}
    # Baseline: one read of the register with its operators, the least any planning run has to do.
    reads = []
    for _ in range(3):
        t0 = time.perf_counter()
        await compliance.store.nurseries()
        reads.append(time.perf_counter() - t0)
    seconds[BASELINE] = min(reads)
    for label, moment in PLANNING_RUNS:
        if moment is not None:
            clock.set(moment)
        t0 = time.perf_counter()
        report = await compliance.plan()
        seconds[label] = time.perf_counter() - t0
        print(
            f"  plan, {label}: {seconds[label]:.2f} s for {report.nurseries:,} nurseries — "
            f"{report.reminders:,} reminders in {report.messages:,} messages, {report.digests} digests"
        )
    t0 = time.perf_counter()
    await compliance.overdue()
    seconds[OVERDUE] = time.perf_counter() - t0
    return seconds


BASELINE = "baseline: reading the register once"
OVERDUE = "/overdue over the whole register"


def summarise(rounds: list[dict[str, float]]) -> None:
    print(f"planning, {len(rounds)} rounds: median (min-max), and as a multiple of the baseline's median")
    floor = statistics.median(r[BASELINE] for r in rounds)
    for label in (BASELINE, *(label for label, _moment in PLANNING_RUNS), OVERDUE):
        values = [r[label] for r in rounds]
        middle = statistics.median(values)
        print(f"  {label}: {middle:.2f} s ({min(values):.2f}-{max(values):.2f}), {middle / floor:.1f}x")


async def bench_dispatch(db: Database, count: int) -> None:
    clock = FakeClock(dt.datetime(2027, 6, 16, 9, tzinfo=SHANGHAI))
    api = InProcessBotAPI()
    bot = Bot(LOCAL_TOKEN, request=api)
    async with bot:
        # Bare PTB: the floor of what any dispatcher can do through this transport.
        t0 = time.perf_counter()
        for i in range(count):
            await bot.send_message(chat_id=50_000_000 + i, text=f"bare message {i}")
        bare = count / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for start in range(0, count, 32):
            await asyncio.gather(
                *(
                    bot.send_message(chat_id=60_000_000 + i, text=f"bare message {i}")
                    for i in range(start, min(count, start + 32))
                )
            )
        bare_concurrent = count / (time.perf_counter() - t0)

        # What planning left in the outbox: coalesced compliance reminders, rendered with their buttons.
        dispatcher = Dispatcher(db, clock, bot, rate=LIFTED, pacer=Pacer(LIFTED))
        t0 = time.perf_counter()
        report = await dispatcher.run_until_idle()
        if report.sent:
            rate = report.sent / (time.perf_counter() - t0)
            print(
                f"  dispatcher (planned compliance reminders): {rate:,.0f} messages/s ({report.sent:,} sent)"
            )

        outbox = Outbox(db, clock)
        for kind, make in (
            ("text", lambda i: NewMessage(key=f"bench:text:{i}", recipient_id=70_000_000 + i, kind="bench", text=f"outbox message {i}")),
            ("template", lambda i: NewMessage(
                key=f"bench:tpl:{i}", recipient_id=80_000_000 + i, kind="bench", template="message",
                params={"msgid": "Nothing was deleted."},
            )),
        ):  # fmt: skip
            t0 = time.perf_counter()
            await outbox.enqueue_many([make(i) for i in range(count)])
            enqueue = count / (time.perf_counter() - t0)
            dispatcher = Dispatcher(db, clock, bot, rate=LIFTED, pacer=Pacer(LIFTED))
            t0 = time.perf_counter()
            report = await dispatcher.run_until_idle()
            rate = report.sent / (time.perf_counter() - t0)
            print(
                f"  dispatcher ({kind} rows): {rate:,.0f} messages/s ({report.sent:,} sent); "
                f"enqueue {enqueue:,.0f} rows/s"
            )
    print(
        f"  bare Bot.send_message: {bare:,.0f} messages/s one by one, {bare_concurrent:,.0f} messages/s 32 at a time"
    )


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rounds = []
        db = None
        for n in range(1, args.rounds + 1):
            if db is not None:
                await db.dispose()
            db = await fresh_database(
                args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / f'bench{n}.sqlite3'}"
            )
            if n == 1:
                print(f"database: {'PostgreSQL' if db.is_postgres else 'SQLite'}")
            print(f"planning, round {n}")
            rounds.append(await bench_planning(db, args.nurseries))
        summarise(rounds)
        assert db is not None
        try:
            print("delivery (the last round's outbox)")
            await bench_dispatch(db, args.messages)
        finally:
            await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nurseries", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="planning rounds, each on a fresh register")
    parser.add_argument(
        "--database-url",
        help="e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/bench (its schema is dropped!)",
    )
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
