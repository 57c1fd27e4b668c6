"""Benchmark of broadcast delivery on virtual time: the achieved rate against the configured one, the peak
in any one second, the paid-mode rate (with reminders sent beside the campaign, which keep to the free
rate), and fan-out speed; prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import add_parents  # noqa: E402
from telegram import Bot  # noqa: E402

from bot.app import LOCAL_TOKEN  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage import migrate  # noqa: E402
from bot.storage.db import Database  # noqa: E402
from bot.transport import InProcessBotAPI  # noqa: E402
from schedules.broadcasts import Audience, Campaigns  # noqa: E402
from schedules.dispatcher import Dispatcher  # noqa: E402
from schedules.jobs import DISPATCH_BUDGET_SHARE, DISPATCH_INTERVAL  # noqa: E402
from schedules.outbox import NewMessage, Outbox  # noqa: E402
from schedules.pacing import VirtualTime  # noqa: E402

TEXT = "<b>厦门市卫健委</b>：冬季婴幼儿保暖与流感预防提示。"
TICK_INTERVAL = DISPATCH_INTERVAL  # schedules.jobs: the dispatch job runs every second …
TICK_BUDGET = DISPATCH_INTERVAL * DISPATCH_BUDGET_SHARE  # … for most of it
OTHERS = 90_000_000  # chat ids of the reminders sent beside a campaign


@dataclasses.dataclass
class Result:
    label: str
    recipients: int
    rate: float
    fanout_wall: float
    sent: int
    virtual: float
    achieved: float
    peak: int
    wall: float
    paid_flagged: int
    others: int = 0  # reminders sent beside the campaign
    others_peak: int = 0


def steady_rate(times: list[float]) -> float:
    """Sends per second over the whole seconds from the first send (the last, partial one left out)."""
    if not times:
        return 0.0
    first = min(times)
    whole = int((max(times) - first) // 1.0)
    if whole == 0:
        return float(len(times))
    return sum(1 for t in times if t - first < whole) / whole


def peak_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def populate(db: Database, recipients: int) -> None:
    await add_parents(db, recipients, first_id=10_000_000, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


# The dispatcher's sleeps advance a counter, so the rates are what the pacing allows; the "wall" figures
# say how fast this machine's database and the Bot API stand-in kept up.
async def run(
    label: str,
    recipients: int,
    rate: float,
    *,
    paid_rate: float | None = None,
    others: int = 0,
    ticks: bool,
    folder: Path,
) -> Result:
    """One campaign to ``recipients`` at ``rate`` (with ``paid_rate``: paid broadcasting on, the campaign
    at that rate), and ``others`` reminders due at the same time to other people."""
    db = Database(f"sqlite+aiosqlite:///{folder / f'{label}.sqlite3'}")
    try:
        await migrate.upgrade(db)
        await populate(db, recipients)
        clock = FakeClock(dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC))
        vt = VirtualTime(on_advance=lambda seconds: clock.advance(seconds=seconds))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=db.url,
            broadcast_rate=rate,
            paid_broadcast=paid_rate is not None,
            paid_broadcast_rate=paid_rate or 1000.0,
        )
        campaigns = Campaigns(db, clock, settings)
        campaign = await campaigns.create(TEXT, Audience())
        started = time.perf_counter()
        await campaigns.advance(campaign_id=campaign.id)
        fanout_wall = time.perf_counter() - started
        await Outbox(db, clock).enqueue_many(
            [
                NewMessage(
                    key=f"reminder:{i}", recipient_id=OTHERS + i, kind="reminder", text="⏰", priority=10
                )
                for i in range(others)
            ]
        )

        api = InProcessBotAPI()
        stamps: list[float] = []
        other_stamps: list[float] = []
        paid_flagged = 0

        def record(method: str, params: dict[str, Any]) -> None:
            nonlocal paid_flagged
            if method == "sendMessage":
                (other_stamps if int(params["chat_id"]) >= OTHERS else stamps).append(vt.now)
                paid_flagged += bool(params.get("allow_paid_broadcast"))
            return None

        api.faults.append(record)
        async with Bot(LOCAL_TOKEN, request=api) as bot:
            dispatcher = Dispatcher(
                db,
                clock,
                bot,
                rate=rate,
                paid_broadcast=paid_rate is not None,
                paid_rate=paid_rate or 1000.0,
                monotonic=vt.monotonic,
                sleep=vt.sleep,
            )
            started = time.perf_counter()
            if ticks:
                while True:
                    tick_start = vt.now
                    report = await dispatcher.tick(budget=TICK_BUDGET)
                    if report.claimed == 0 and len(stamps) >= recipients:
                        break
                    await vt.sleep(max(0.0, tick_start + TICK_INTERVAL - vt.now))
            else:
                await dispatcher.run_until_idle()
            wall = time.perf_counter() - started
        progress = await campaigns.progress(campaign.id)
        virtual = (max(stamps) - min(stamps)) if stamps else 0.0
        return Result(
            label=label,
            recipients=recipients,
            rate=paid_rate or rate,
            fanout_wall=fanout_wall,
            sent=progress.sent,
            virtual=virtual,
            achieved=steady_rate(stamps),
            peak=peak_in_window(stamps),
            wall=wall,
            paid_flagged=paid_flagged,
            others=len(other_stamps),
            others_peak=peak_in_window(other_stamps),
        )
    finally:
        await db.dispose()


async def fan_out_only(recipients: int, folder: Path) -> None:
    """Queue a large audience (what ``carebot broadcast create`` does before the dispatcher starts)."""
    db = Database(f"sqlite+aiosqlite:///{folder / 'fanout.sqlite3'}")
    try:
        await migrate.upgrade(db)
        await populate(db, recipients)
        clock = FakeClock(dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC))
        settings = Settings(_env_file=None, database_url=db.url)  # type: ignore[call-arg]
        campaigns = Campaigns(db, clock, settings)
        campaign = await campaigns.create(TEXT, Audience())
        started = time.perf_counter()
        await campaigns.advance(campaign_id=campaign.id)
        took = time.perf_counter() - started
        queued = (await campaigns.require(campaign.id)).total
        print(f"fan-out of {queued:,} recipients: {took:.1f} s ({queued / took:,.0f} rows/s)")
    finally:
        await db.dispose()


def show(result: Result) -> None:
    share = result.achieved / result.rate * 100
    print(
        f"{result.label:<34} {result.sent:>7,}/{result.recipients:<7,} configured {result.rate:>6.0f}/s  "
        f"achieved {result.achieved:>7.1f}/s ({share:5.1f}%, whole seconds)  peak in 1 s {result.peak:>5}  "
        f"first to last {result.virtual:>7.1f} s  wall {result.wall:>6.1f} s ({result.sent / result.wall:,.0f} msg/s)  "
        f"fan-out {result.fanout_wall:.2f} s"
        + (f"  allow_paid_broadcast on {result.paid_flagged:,}" if result.paid_flagged else "")
        + (
            f"\n{'':<34} reminders beside it: {result.others:,}, peak in 1 s {result.others_peak}"
            if result.others
            else ""
        )
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0, help="CAREBOT_BROADCAST_RATE (default 25)")
    parser.add_argument(
        "--paid-rate", type=float, default=1000.0, help="CAREBOT_PAID_BROADCAST_RATE (default 1000)"
    )
    parser.add_argument("--others", type=int, default=300, help="reminders due beside the paid campaign")
    parser.add_argument(
        "--fanout", type=int, default=100_000, help="recipients of the fan-out-only run (0: skip)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        show(await run("drain (run_until_idle)", args.recipients, args.rate, ticks=False, folder=path))
        show(
            await run(
                f"JobQueue ticks ({TICK_BUDGET:.2f} s of each {TICK_INTERVAL:.0f} s)",
                args.recipients,
                args.rate,
                ticks=True,
                folder=path,
            )
        )
        for label, others in (
            ("paid broadcast (drain)", 0),
            ("paid broadcast, reminders beside it", args.others),
        ):
            show(
                await run(
                    label,
                    args.recipients,
                    args.rate,
                    paid_rate=args.paid_rate,
                    others=others,
                    ticks=False,
                    folder=path,
                )
            )
        if args.fanout:
            await fan_out_only(args.fanout, path)


if __name__ == "__main__":
    asyncio.run(main())
