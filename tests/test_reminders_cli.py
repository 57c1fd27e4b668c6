"""``carebot reminders plan`` and ``run-due`` through the real command line (``bot.cli.main``), with the
Bot API answered in process: the operator of an unfiled nursery is reminded once, however often it runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path

import pytest

from bot.app import LOCAL_TOKEN
from bot.cli import main
from bot.storage.db import Database
from bot.transport import InProcessBotAPI
from schedules import cli as reminders_cli
from tests.schedules_support import add_nursery, add_user, sent_texts

UNFILED_CODE = "91350200MA31AAAA0X"
ENTERPRISE_CODE = "91350200MA32BBBB1Y"


@pytest.fixture
def cli_env(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: InProcessBotAPI
) -> InProcessBotAPI:
    """A migrated database (the ``db`` fixture), settings from the environment, run-due's Bot API in process."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CAREBOT_DATABASE_URL", db.url)
    monkeypatch.setenv("CAREBOT_TELEGRAM_TOKEN", LOCAL_TOKEN)
    monkeypatch.delenv("CAREBOT_TELEGRAM_API_URL", raising=False)
    monkeypatch.setattr(reminders_cli, "request_factory", lambda: api)
    return api


def run(*argv: str) -> int:
    return main(list(argv))


async def _setup(url: str) -> None:
    db = Database(url)
    try:
        await add_user(db, 1001, language="en")
        await add_user(db, 1002, language="en")
        await add_nursery(
            db,
            name="Little Stars",
            registered_on=dt.date(2026, 12, 1),
            filed_on=None,
            operators=(1001,),
            code=UNFILED_CODE,
        )
        await add_nursery(
            db, name="Bright Kids Co.", legal_form="enterprise", operators=(1002,), code=ENTERPRISE_CODE
        )
    finally:
        await db.dispose()


def test_an_unfiled_nursery_is_reminded_once_per_moment(
    cli_env: InProcessBotAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_setup(os.environ["CAREBOT_DATABASE_URL"]))
    capsys.readouterr()
    assert run("reminders", "run-due", "--now", "2027-01-15T09:00:00+08:00", "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["dispatch"]["sent"] == 2 and first["plan"]["messages"] == 2
    (text,) = sent_texts(cli_env, 1001)
    assert "Filing (备案) with the health commission" in text and "Little Stars has not filed" in text
    assert "Overdue since December 31, 2026 (15 days)" in text

    assert run("reminders", "run-due", "--now", "2027-01-15T09:00:00+08:00", "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["plan"]["messages"] == 0 and again["dispatch"]["sent"] == 0
    assert len(sent_texts(cli_env, 1001)) == 1


def test_an_enterprise_is_reminded_of_its_annual_report_before_30_june(
    cli_env: InProcessBotAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_setup(os.environ["CAREBOT_DATABASE_URL"]))
    assert (
        run(
            "reminders",
            "plan",
            "--institution",
            ENTERPRISE_CODE,
            "--now",
            "2027-06-10T12:00:00+08:00",
            "--days",
            "30",
            "--json",
        )
        == 0
    )
    planned = json.loads(capsys.readouterr().out)
    annual = [p for p in planned if p["rule_id"] == "annual_report"]
    assert [p["send_at"][:10] for p in annual] == [
        "2027-06-16",
        "2027-06-23",
        "2027-06-27",
        "2027-06-29",
        "2027-06-30",
        "2027-07-07",
    ]
    assert all(p["recipient_id"] == 1002 and p["status"] == "upcoming" for p in annual)

    assert run("reminders", "run-due", "--now", "2027-06-16T09:00:00+08:00") == 0
    assert "sent 2" in capsys.readouterr().out
    texts = sent_texts(cli_env, 1002)
    assert len(texts) == 1 and "Enterprise annual report" in texts[0] and "(in 14 days)" in texts[0]


def test_run_due_needs_a_token_and_a_proper_moment(
    cli_env: InProcessBotAPI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("reminders", "run-due", "--now", "yesterday") == 2
    assert "--now: expected an ISO-8601 moment" in capsys.readouterr().err
    monkeypatch.delenv("CAREBOT_TELEGRAM_TOKEN")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert run("reminders", "run-due") == 2
    assert "needs a bot token" in capsys.readouterr().err
