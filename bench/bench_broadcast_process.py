"""Benchmark of broadcast delivery by ``carebot run`` as a real process, in real time, against the Bot API
server on loopback (bot.apiserver), with no injected faults.

One campaign to every recipient is created before the bot starts; the running bot's campaign job fans it
out and its dispatcher job (one tick a second) sends it. Prints the recipients delivered, the configured
rate (CAREBOT_BROADCAST_RATE), the achieved rate (deliveries a second over the whole seconds from the
first delivery) as a number and as a share of the configured rate, the peak in any sliding
1-second window, the gaps between dispatcher ticks and their durations (from the bot's log), the wall
times, and the same figures for an ideal sender that sends exactly ``rate`` evenly spaced messages a second.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import add_parents, fresh_database  # noqa: E402

from bot.apiserver import BotAPIServer  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.settings import Settings  # noqa: E402
from schedules.broadcasts import Audience, Campaigns  # noqa: E402
from schedules.jobs import DISPATCH_BUDGET_SHARE, DISPATCH_INTERVAL, DISPATCH_JOB  # noqa: E402

TEXT = "<b>厦门市卫健委</b>：婴幼儿照护指导信息（基准测试）。"
TOKEN = "123456:TEST-token-for-loopback"
FIRST_USER = 30_000_001
PROGRESS_EVERY = 5.0  # seconds between progress lines
# Server timestamps carry the transport's jitter (tests/test_broadcast_process.py checks the cap over
# windows this much shorter than a second).
JITTER = 0.15
STOP_GRACE = 20.0  # seconds a SIGTERM gets before the process is killed

# The bot logs through logging.basicConfig ("%(asctime)s %(levelname)s %(name)s: ..."); APScheduler
# logs each job run at INFO, which places every dispatcher tick on the wall clock to the millisecond.
_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
_TICK_START = re.compile(_STAMP + r' INFO \S+: Running job "' + re.escape(DISPATCH_JOB) + r" \(")
_TICK_END = re.compile(
    _STAMP + r' INFO \S+: Job "' + re.escape(DISPATCH_JOB) + r' \(.*" executed successfully'
)
_TICK_MISSED = re.compile(r'Run time of job "' + re.escape(DISPATCH_JOB) + r" \(.*was missed by")
_TICK_SKIPPED = re.compile(r'Execution of job "' + re.escape(DISPATCH_JOB) + r" \(.*skipped")


@dataclass
class Figures:
    """A campaign's delivery figures from its send times (seconds, any one clock)."""

    delivered: int
    span: float  # first to last delivery
    achieved: (
        float  # deliveries a second over the whole seconds from the first (the last, partial one left out)
    )
    peak: int

    @classmethod
    def of(cls, stamps: list[float]) -> Figures:
        if not stamps:
            return cls(0, 0.0, 0.0, 0)
        first = min(stamps)
        span = max(stamps) - first
        whole = int(span // 1.0)
        achieved = sum(1 for t in stamps if t - first < whole) / whole if whole else float(len(stamps))
        return cls(len(stamps), span, achieved, peak_in_window(stamps, 1.0))


@dataclass
class Ticks:
    """Dispatcher ticks read from the bot's log, on the wall clock (epoch seconds)."""

    starts: list[float]
    ends: list[float]
    missed: int
    skipped: int


def peak_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open window of ``window`` seconds."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window + 1e-9:  # a nanosecond of float rounding is no overlap
            start += 1
        best = max(best, end - start + 1)
    return best


def longest_window_within(times: list[float], cap: int) -> float:
    """The longest window (up to 1 s, to the millisecond) in which no more than ``cap`` events fall."""
    low, high = 0.0, 1.0
    if peak_in_window(times, high) <= cap:
        return high
    while high - low > 0.0005:
        middle = (low + high) / 2
        if peak_in_window(times, middle) <= cap:
            low = middle
        else:
            high = middle
    return low


def ideal_stamps(recipients: int, rate: float) -> list[float]:
    """An ideal sender: exactly ``rate`` messages in every second, evenly spaced."""
    return [i / rate for i in range(recipients)]


def read_ticks(log: Path) -> Ticks:
    def epoch(stamp: str) -> float:
        # asctime is the bot's local time, the same zone as this process's.
        return time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp[20:]) / 1000

    starts, ends, missed, skipped = [], [], 0, 0
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := _TICK_START.match(line):
            starts.append(epoch(m.group(1)))
        elif m := _TICK_END.match(line):
            ends.append(epoch(m.group(1)))
        elif _TICK_MISSED.search(line):
            missed += 1
        elif _TICK_SKIPPED.search(line):
            skipped += 1
    return Ticks(starts, ends, missed, skipped)


async def prepare(url: str, recipients: int, rate: float) -> int:
    """A migrated database with ``recipients`` consenting users and one campaign to all of them, still
    to be fanned out; returns the campaign's id."""
    db = await fresh_database(url)
    try:
        await add_parents(db, recipients, first_id=FIRST_USER, now=dt.datetime.now(dt.UTC))
        settings = Settings(_env_file=None, database_url=url, broadcast_rate=rate)  # type: ignore[call-arg]
        campaign = await Campaigns(db, SystemClock(), settings).create(TEXT, Audience())
        return campaign.id
    finally:
        await db.dispose()


def environment(server: BotAPIServer, url: str, rate: float) -> dict[str, str]:
    """The bot's environment: this one without any CAREBOT_ setting of its own, plus the run's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_") and k != "TELEGRAM_BOT_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return {
        **env,
        "CAREBOT_TELEGRAM_TOKEN": TOKEN,
        "CAREBOT_TELEGRAM_API_URL": server.base_url,
        "CAREBOT_DATABASE_URL": url,
        "CAREBOT_BROADCAST_RATE": str(rate),
        "PTB_TIMEDELTA": "true",
    }


class CampaignCounter:
    """A fault hook that faults nothing: it counts the campaign's sendMessage calls as they arrive."""

    def __init__(self) -> None:
        self.chats: set[int] = set()

    def __call__(self, method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and params.get("text") == TEXT:
            self.chats.add(int(params["chat_id"]))


def campaign_sends(server: BotAPIServer) -> tuple[dict[int, float], int]:
    """The first successful delivery of the campaign's text to each chat (server monotonic time), and
    how many deliveries repeated a chat."""
    api = server.api
    first: dict[int, float] = {}
    repeats = 0
    for call in api.calls:
        if call.method == "sendMessage" and call.text == TEXT and call.seq in api.message_ids:
            chat = int(call.chat_id or 0)
            if chat in first:
                repeats += 1
            else:
                first[chat] = call.at
    return first, repeats


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


async def stop(process: asyncio.subprocess.Process) -> tuple[float, str]:
    """SIGTERM, then SIGKILL when the process has not exited after STOP_GRACE; returns the seconds it
    took and how it ended."""
    started = time.monotonic()
    if process.returncode is not None:
        return 0.0, f"had already exited ({process.returncode})"
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE)
        how = f"exited on SIGTERM ({process.returncode})"
    except TimeoutError:
        process.kill()
        await process.wait()
        how = f"killed after {STOP_GRACE:.0f} s of SIGTERM"
    return time.monotonic() - started, how


async def close_server(server: BotAPIServer) -> None:
    """Stop the server once its connections are done: a getUpdates long poll left open by the bot is
    answered first (to a closed socket), so no handler is cancelled in the middle."""
    await server.api.release_long_polls()
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=2.0)
    await server.stop()


def show_ticks(ticks: Ticks, stamps: list[float], wall_offset: float) -> None:
    """The dispatcher ticks that sent the campaign, and how its deliveries fell within them."""
    first, last = stamps[0], stamps[-1]
    # On the server's clock; from the tick before the first delivery to the one of the last.
    starts = [s - wall_offset for s in ticks.starts]
    during = [s for s in starts if first - DISPATCH_INTERVAL <= s <= last]
    if len(during) < 2:
        print("dispatcher ticks:     not found in the bot's log")
        return
    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
    durations = [
        end - start
        for start, end in zip(ticks.starts, ticks.ends, strict=False)
        if first - DISPATCH_INTERVAL <= start - wall_offset <= last
    ]
    print(
        f"dispatcher ticks:     {len(during)} during the campaign; gap between starts mean "
        f"{statistics.fmean(gaps):.3f} s, max {max(gaps):.3f} s (interval {DISPATCH_INTERVAL:g} s, "
        f"budget {DISPATCH_INTERVAL * DISPATCH_BUDGET_SHARE:.2f} s)"
    )
    if durations:
        print(
            f"tick duration:        mean {statistics.fmean(durations):.3f} s, max {max(durations):.3f} s; "
            f"runs missed {ticks.missed}, skipped (still running) {ticks.skipped}"
        )
    # Each delivery belongs to the last tick that started before it.
    groups: list[list[float]] = [[] for _ in during]
    for stamp in stamps:
        index = bisect.bisect_right(during, stamp) - 1
        if index >= 0:
            groups[index].append(stamp)
    sending = [(start, g) for start, g in zip(during, groups, strict=True) if g]
    if sending:
        counts = [len(g) for _, g in sending]
        delays = [g[0] - start for start, g in sending]
        spreads = [g[-1] - g[0] for _, g in sending]
        print(
            f"per sending tick:     {len(sending)} ticks sent; deliveries mean {statistics.fmean(counts):.1f}, "
            f"max {max(counts)}; tick start to first delivery mean {statistics.fmean(delays):.3f} s, "
            f"max {max(delays):.3f} s; first to last delivery mean {statistics.fmean(spreads):.3f} s, "
            f"max {max(spreads):.3f} s"
        )


async def run(args: argparse.Namespace, folder: Path) -> None:
    recipients, rate = args.recipients, args.rate
    url = args.database_url or f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
    t0 = time.perf_counter()
    campaign_id = await prepare(url, recipients, rate)
    print(
        f"database: {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}; {recipients:,} recipients and "
        f"campaign {campaign_id} to all of them ready in {time.perf_counter() - t0:.1f} s"
    )
    ideal = Figures.of(ideal_stamps(recipients, rate))
    timeout = args.timeout or 120.0 + 3.0 * recipients / rate

    server = BotAPIServer()
    counter = CampaignCounter()
    server.api.faults.append(counter)
    await server.start()
    log = folder / "bot.log"
    # Server timestamps are this process's monotonic clock; the bot's log is on the wall clock.
    wall_offset = time.time() - time.monotonic()
    process: asyncio.subprocess.Process | None = None
    try:
        launched = time.monotonic()
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run",
                cwd=folder, env=environment(server, url, rate),
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        print(f"carebot run started (pid {process.pid}), rate {rate:g}/s; waiting up to {timeout:.0f} s")
        ready: float | None = None
        last_line = launched
        last_count = 0
        complete = False
        while time.monotonic() - launched < timeout:
            if process.returncode is not None:
                break
            now = time.monotonic()
            if ready is None and any(c.method == "setMyCommands" for c in server.api.calls):
                ready = now
            if len(counter.chats) >= recipients:
                got, _repeats = campaign_sends(server)
                if len(got) >= recipients:
                    complete = True
                    break
            if now - last_line >= PROGRESS_EVERY:
                count = len(counter.chats)
                recent = (count - last_count) / (now - last_line)
                print(
                    f"  {now - launched:6.1f} s: {count:,}/{recipients:,} delivered "
                    f"({recent:.1f}/s over the last {now - last_line:.1f} s)"
                )
                last_line, last_count = now, count
            await asyncio.sleep(0.05)
        finished = time.monotonic()
        if process.returncode is not None:
            print(f"carebot run exited early ({process.returncode}); the end of its log:\n{tail(log)}")
        elif not complete:
            print(f"timed out after {timeout:.0f} s with {len(counter.chats):,}/{recipients:,} delivered")
        stop_took, how = await stop(process)
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await close_server(server)
        if args.keep_log:
            shutil.copyfile(log, args.keep_log)

    got, repeats = campaign_sends(server)
    stamps = sorted(got.values())
    figures = Figures.of(stamps)
    print()
    print(f"recipients delivered: {figures.delivered:,}/{recipients:,} (repeated deliveries: {repeats})")
    print(f"configured rate:      {rate:g}/s (CAREBOT_BROADCAST_RATE)")
    if stamps:
        share = figures.achieved / rate * 100
        print(
            f"achieved rate:        {figures.achieved:.2f}/s ({share:.1f}% of configured) — "
            f"{figures.delivered:,} in {figures.span:.2f} s from the first to the last (rate over the whole seconds)"
        )
        cap = math.floor(rate) if rate >= 1 else 1
        print(
            f"peak in any 1 s:      {figures.peak} (cap {cap}) on the server's clock; in any {1 - JITTER:.2f} s "
            f"(the window the process test checks, allowing for transport jitter): "
            f"{peak_in_window(stamps, 1 - JITTER)}; the cap holds in every window up to "
            f"{longest_window_within(stamps, cap):.3f} s"
        )
        ideal_share = ideal.achieved / rate * 100
        print(
            f"ideal sender:         {recipients:,} in {recipients / rate:.2f} s (recipients / rate); "
            f"by the same measure {ideal.achieved:.2f}/s ({ideal_share:.1f}%) over {ideal.span:.2f} s, "
            f"peak in 1 s {ideal.peak}"
        )
        print(
            f"shortfall:            {figures.span - ideal.span:+.2f} s against the ideal sender "
            f"({figures.span / ideal.span:.3f}x its span)"
        )

        show_ticks(read_ticks(log), stamps, wall_offset)
    ready_text = f"{ready - launched:.1f} s" if ready is not None else "never"
    first_text = f"{stamps[0] - launched:.1f} s" if stamps else "never"
    print(
        f"wall time:            {finished - launched:.1f} s from launch to the last delivery seen "
        f"(ready after {ready_text}, first delivery after {first_text}); "
        f"stop {stop_took:.1f} s, {how}"
    )


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        await run(args, Path(folder))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recipients",
        type=int,
        default=1_000,
        help="users who consented and accept broadcasts (default 1000)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=25.0,
        help="CAREBOT_BROADCAST_RATE for the bot, messages a second (default 25)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/bench — its public schema is "
        "DROPPED and recreated; default: a temporary SQLite file",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for every delivery (default 120 + 3 × recipients / rate)",
    )
    parser.add_argument("--keep-log", type=Path, help="copy the bot's log (its stderr) to this file")
    args = parser.parse_args()
    if args.recipients < 1 or args.rate <= 0:
        parser.error("--recipients and --rate must be positive")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
