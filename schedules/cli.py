"""``carebot reminders plan`` (what will be sent when) and ``carebot reminders run-due`` (plan and deliver
what is due at a moment through the Bot API, then exit); registered in ``bot.cli_commands``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bot.cli import CliError, parse_moment, write_line
from bot.settings import Settings


def default_request() -> Any:
    """PTB's own HTTP client (None lets ``Bot`` build it)."""
    return None


# The Bot API transport run-due uses; tests put an in-process Bot API here.
request_factory: Callable[[], Any] = default_request


class OffsetClock:
    """A clock that starts at a given moment and runs on from there, for "run as if it were …"."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = start.astimezone(dt.UTC)
        self._origin = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._origin)


async def cmd_reminders_plan(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import FakeClock, SystemClock
    from bot.directory import credit_code
    from bot.storage import migrate
    from bot.storage.db import Database
    from schedules.compliance import Compliance

    if args.days < 0:
        raise CliError("--days must be 0 or more")
    clock = FakeClock(parse_moment(args.now, settings.tz, "--now")) if args.now else SystemClock()
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        compliance = Compliance.from_settings(db, clock, settings)
        code = credit_code.normalize(args.institution) if args.institution else None
        if code is not None and not await compliance.store.nurseries(credit_code=code):
            raise CliError(f"no nursery with the credit code {args.institution!r} in the register")
        planned = await compliance.preview(days=args.days, credit_code=code)
    finally:
        await db.dispose()
    if args.json:
        write_line(json.dumps([p.as_dict() for p in planned], ensure_ascii=False, indent=2))
        return 0
    if not planned:
        write_line(f"nothing to send in the next {args.days} days")
        return 0
    tz = settings.tz
    for p in planned:
        who = str(p.recipient_id) if p.recipient_id is not None else "(no operator linked)"
        write_line(
            f"{p.send_at.astimezone(tz):%Y-%m-%d %H:%M}  {p.status:<8}  {p.rule_id:<16} due {p.due_on}  "
            f"{p.institution} [{p.credit_code}]  → {who}"
        )
    return 0


async def cmd_reminders_run_due(args: argparse.Namespace, settings: Settings) -> int:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError

    from bot.clock import SystemClock
    from bot.services import Services
    from bot.storage import migrate
    from bot.storage.db import Database
    from schedules.jobs import Delivery

    token = settings.token
    if not token:
        raise CliError("run-due sends through the Bot API and needs a bot token: set CAREBOT_TELEGRAM_TOKEN")
    clock = OffsetClock(parse_moment(args.now, settings.tz, "--now")) if args.now else SystemClock()
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    services = Services.build(settings, db=db, clock=clock)
    extra: dict[str, Any] = {}
    if settings.telegram_api_url:
        extra["base_url"] = settings.telegram_api_url
    bot = Bot(token, request=request_factory(), **extra)
    try:
        async with bot:
            delivery = Delivery(services, bot, bot_id=token.split(":", 1)[0])
            try:
                report = await delivery.run_due()
            finally:
                await delivery.close()
    except InvalidToken:
        raise CliError("the Bot API refused the token in CAREBOT_TELEGRAM_TOKEN") from None
    except NetworkError as exc:
        raise CliError(f"could not reach the Bot API: {exc}") from None
    finally:
        await services.close()
    if not report.dispatch.leader:
        sys.stderr.write(
            "another process holds the dispatcher lock and delivers; nothing was sent from here\n"
        )
        return 1
    if args.json:
        write_line(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        plan, sent = report.plan, report.dispatch
        write_line(
            f"planned {plan.reminders} reminders in {plan.messages} messages and {plan.digests} digests; "
            f"sent {sent.sent}, retrying {sent.retried + sent.deferred}, failed {sent.failed}, blocked {sent.blocked}"
        )
    return 0


def add_reminders(sub: Any) -> None:
    p = sub.add_parser("reminders", help="compliance reminders: what will be sent when; deliver what is due")
    actions = p.add_subparsers(dest="reminders_command", metavar="ACTION", required=True)

    plan = actions.add_parser("plan", help="list the reminders due now and the coming ones, per operator")
    plan.add_argument("--institution", metavar="CODE", help="one nursery, by its unified social credit code")
    plan.add_argument("--days", type=int, default=30, help="how many days ahead to look (default 30)")
    plan.add_argument("--now", metavar="ISO", help="plan as of this moment instead of now")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(handler=cmd_reminders_plan)

    run = actions.add_parser(
        "run-due", help="plan and deliver everything due at this moment through the Bot API, then exit"
    )
    run.add_argument(
        "--now", metavar="ISO", help="act as if it were this moment, e.g. 2027-01-15T09:00:00+08:00"
    )
    run.add_argument("--json", action="store_true", help="print JSON")
    run.set_defaults(handler=cmd_reminders_run_due)
