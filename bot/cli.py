"""The ``carebot`` command line: run the bot, chat in the console, manage the database and data.

Every command that prints data accepts ``--json``; ``carebot COMMAND --help`` explains each.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("carebot")

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CliError(Exception):
    """A problem with the command's input; printed as one line, exit code 2."""


def write_line(text: str) -> None:
    """One line of the command's output on stdout."""
    sys.stdout.write(text + "\n")


def parse_moment(value: str, tz: dt.tzinfo, option: str) -> dt.datetime:
    """An ISO-8601 moment given to ``option``; without an offset it is read in ``tz``."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{option}: expected an ISO-8601 moment such as 2027-01-15T09:00:00+08:00, got {value!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _services(settings: Settings) -> Any:
    from bot.services import Services

    return Services.build(settings)


async def _upgrade(settings: Settings) -> str | None:
    from bot.storage import migrate
    from bot.storage.db import Database

    db = Database(settings.database_url)
    try:
        return await migrate.upgrade(db)
    finally:
        await db.dispose()


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    revision = await _upgrade(settings)
    print(f"database at revision {revision}")
    return 0


async def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    from bot.console import run_console

    await _upgrade(settings)
    services = _services(settings)
    try:
        await run_console(services, language_code=args.language)
    finally:
        await services.close()
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Polling (or webhook) with the scheduler; blocking, so it manages its own event loop."""
    from bot.runner import run_bot

    if not settings.token:
        print(
            "carebot run needs a bot token: set CAREBOT_TELEGRAM_TOKEN (or TELEGRAM_BOT_TOKEN). "
            "To try the bot without one, run `carebot console`.",
            file=sys.stderr,
        )
        return 2
    asyncio.run(_upgrade(settings))
    return run_bot(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carebot",
        description=(
            "CareBot (托育助手): a Telegram assistant for families, nurseries and health commissions. "
            "Configuration comes from CAREBOT_* environment variables (or a .env file); "
            "with no settings it uses a SQLite file in the current directory."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run the bot (polling, or webhook when CAREBOT_WEBHOOK_URL is set)")
    p.set_defaults(sync_handler=cmd_run)

    p = sub.add_parser("console", help="chat with the bot in this terminal: no token, no network")
    p.add_argument(
        "--language",
        default="zh-hans",
        help="the Telegram language of the console user (zh-hans, zh-hant, en)",
    )
    p.set_defaults(handler=cmd_console)

    p = sub.add_parser("db", help="database maintenance")
    db_sub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    u = db_sub.add_parser("upgrade", help="apply the migrations (run and console do it on start too)")
    u.set_defaults(handler=cmd_db_upgrade)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[Any], None]]:
    """Subcommands contributed by the feature modules of the CLI."""
    from bot import cli_commands

    return cli_commands.REGISTRARS


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = args.command == "console" or getattr(args, "json", False)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else (logging.WARNING if quiet else logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and a Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        if getattr(args, "sync_handler", None):
            return int(args.sync_handler(args, settings))
        return asyncio.run(args.handler(args, settings))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
