"""``carebot broadcast create / status / cancel / report``: commission campaigns from the command line,
delivered by a running ``carebot run`` (whose campaign job also finishes a fan-out cut short here).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.cli import CliError, parse_moment, write_line
from bot.settings import Settings


@asynccontextmanager
async def _campaigns(settings: Settings) -> AsyncIterator[Any]:
    from bot.clock import SystemClock
    from bot.storage import migrate
    from bot.storage.db import Database
    from schedules.broadcasts import BroadcastError, Campaigns

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        yield Campaigns(db, SystemClock(), settings)
    except BroadcastError as exc:
        raise _error(exc) from None
    finally:
        await db.dispose()


def _error(exc: Exception) -> CliError:
    from schedules.broadcasts import MAX_SCHEDULE_AHEAD, MAX_TEXT_LENGTH

    code = getattr(exc, "code", "")
    detail = getattr(exc, "detail", "")
    messages = {
        "empty": "the text is empty",
        "too_long": f"the text has {detail} characters; Telegram allows {MAX_TEXT_LENGTH}, tags included",
        "html": f"Telegram would refuse the HTML: {detail}",
        "unknown_district": f"unknown district {detail!r} (CAREBOT_DISTRICTS lists them)",
        "unknown_language": f"unknown language {detail!r}: use zh_Hans, zh_Hant or en",
        "past": f"--at {detail} has passed",
        "too_far": f"--at {detail} is more than {MAX_SCHEDULE_AHEAD.days} days ahead",
        "not_found": f"no broadcast with the id {detail}",
        "not_active": f"the broadcast is {detail or 'finished'} and cannot be cancelled",
    }
    return CliError(messages.get(code, str(exc)))


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return str(args.text)
    path = Path(args.file)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


async def cmd_broadcast_create(args: argparse.Namespace, settings: Settings) -> int:
    from schedules.broadcasts import Audience, AudienceGroup, BroadcastError, parse_language

    text = _read_text(args)
    try:
        audience = Audience(
            group=AudienceGroup(args.audience),
            districts=tuple(dict.fromkeys(args.district or ())),
            language=parse_language(args.language),
        )
    except BroadcastError as exc:
        raise _error(exc) from None
    moment = parse_moment(args.at, settings.tz, "--at") if args.at else None
    async with _campaigns(settings) as campaigns:
        campaign = await campaigns.create(text, audience, scheduled_at=moment)
        # Queue the recipients now when the campaign is due; interrupted, the bot's job carries on.
        await campaigns.advance(campaign_id=campaign.id)
        progress = await campaigns.progress(campaign.id)
    if args.json:
        write_line(json.dumps(progress.as_dict(), ensure_ascii=False))
    else:
        write_line(str(campaign.id))
    return 0


async def cmd_broadcast_status(args: argparse.Namespace, settings: Settings) -> int:
    async with _campaigns(settings) as campaigns:
        progress = await campaigns.progress(args.id)
    data = progress.as_dict()
    if args.json:
        write_line(json.dumps(data, ensure_ascii=False))
        return 0
    for key in ("id", "state", "total", "sent", "failed", "blocked", "cancelled", "remaining"):
        write_line(f"{key:<17}{data[key]}")
    for key in ("scheduled_at", "estimated_finish", "finished_at"):
        if data[key]:
            write_line(f"{key:<17}{data[key]}")
    return 0


async def cmd_broadcast_cancel(args: argparse.Namespace, settings: Settings) -> int:
    async with _campaigns(settings) as campaigns:
        result = await campaigns.cancel(args.id)
    if args.json:
        write_line(json.dumps({"id": args.id, "dropped": result.dropped, "not_queued": result.not_queued}))
    else:
        write_line(
            f"broadcast {args.id} cancelled: {result.dropped} queued messages dropped"
            + (f", {result.not_queued} people not queued yet" if result.not_queued else "")
        )
    return 0


async def cmd_broadcast_report(args: argparse.Namespace, settings: Settings) -> int:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    async with _campaigns(settings) as campaigns:
        await campaigns.require(args.id)  # before the header: an unknown id prints nothing
        writer.writerow(["user_id", "state", "sent_at", "error"])
        async for row in campaigns.report(args.id):
            writer.writerow(
                [row.user_id, row.state, row.sent_at.isoformat() if row.sent_at else "", row.error or ""]
            )
    return 0


def add_broadcast(sub: Any) -> None:
    p = sub.add_parser("broadcast", help="commission campaigns: create, follow, cancel, report")
    actions = p.add_subparsers(dest="broadcast_command", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="create a campaign (Telegram HTML) and queue it; prints its id",
        description=(
            "Everyone means every person who started the bot, has not turned broadcasts off and has not "
            "blocked it. There is no filter by the child's age: the bot stores no child data yet."
        ),
    )
    create.add_argument("--audience", choices=["all", "parents", "operators"], required=True)
    create.add_argument("--district", action="append", metavar="D", help="only this district (repeatable)")
    create.add_argument(
        "--language", metavar="L", help="only people using this language: zh_Hans, zh_Hant, en"
    )
    text = create.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", metavar="T", help="the message, Telegram HTML")
    text.add_argument("--file", metavar="F", help="read the message from this UTF-8 file")
    create.add_argument(
        "--at", metavar="ISO", help="send at this moment, e.g. 2027-01-15T09:00:00+08:00 (default: now)"
    )
    create.add_argument("--json", action="store_true", help="print the campaign as JSON")
    create.set_defaults(handler=cmd_broadcast_create)

    status = actions.add_parser("status", help="a campaign's figures: sent, failed, blocked, remaining")
    status.add_argument("id", type=int)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=cmd_broadcast_status)

    cancel = actions.add_parser("cancel", help="stop a campaign; messages not sent yet are dropped")
    cancel.add_argument("id", type=int)
    cancel.add_argument("--json", action="store_true", help="print JSON")
    cancel.set_defaults(handler=cmd_broadcast_cancel)

    report = actions.add_parser("report", help="CSV, one line per recipient: user id, state, sent_at, error")
    report.add_argument("id", type=int)
    report.set_defaults(handler=cmd_broadcast_report)
