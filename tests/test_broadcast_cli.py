"""``carebot broadcast create / status / cancel / report`` in-process: audiences from flags, clear errors,
the figures as JSON, cancelling, and the per-recipient CSV."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import SystemClock
from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database
from schedules.broadcasts import Campaigns
from schedules.outbox import Outbox
from tests.conftest import _reset_postgres, database_url_for
from tests.test_broadcasts import person


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = database_url_for(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAREBOT_DATABASE_URL", url)

    async def prepare() -> None:
        db = Database(url)
        try:
            if db.is_postgres:
                await _reset_postgres(db)
            else:
                await migrate.upgrade(db)
            await person(db, 1, role="parent", district="思明区", language="zh_Hans")
            await person(db, 2, role="parent", district="湖里区", language="en")
            await person(db, 3, role="operator", district="思明区", language="zh_Hans")
            await person(db, 4, role=None, district=None, language=None)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    return url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("database")
def test_create_status_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "broadcast", "create", "--audience", "parents", "--district", "思明区",
                          "--district", "湖里区", "--language", "zh-hans", "--text", "<b>通知</b>")  # fmt: skip
    assert code == 0
    campaign_id = int(out.strip())
    code, out, _err = run(capsys, "broadcast", "status", str(campaign_id), "--json")
    status = json.loads(out)
    assert status["state"] == "sending" and status["total"] == 1 and status["remaining"] == 1
    assert status["audience"] == {
        "group": "parents",
        "districts": ["思明区", "湖里区"],
        "language": "zh_Hans",
    }
    code, out, _err = run(capsys, "broadcast", "report", str(campaign_id))
    rows = list(csv.reader(io.StringIO(out)))
    assert rows == [["user_id", "state", "sent_at", "error"], ["1", "pending", "", ""]]
    code, out, _err = run(capsys, "broadcast", "status", str(campaign_id))
    assert "remaining        1" in out


def test_cancel_reports_what_was_dropped(capsys: pytest.CaptureFixture[str], database: str) -> None:
    code, out, _err = run(capsys, "broadcast", "create", "--audience", "all", "--text", "全体通知", "--json")
    created = json.loads(out)
    assert code == 0 and created["total"] == 4

    async def send_one() -> None:
        db = Database(database)
        try:
            outbox = Outbox(db, SystemClock())
            (entry,) = await outbox.claim("w", 1)
            await outbox.mark_sent(entry.id, 1)
        finally:
            await db.dispose()

    asyncio.run(send_one())
    code, out, _err = run(capsys, "broadcast", "cancel", str(created["id"]))
    assert code == 0 and "3 queued messages dropped" in out
    code, out, _err = run(capsys, "broadcast", "status", str(created["id"]), "--json")
    status = json.loads(out)
    assert (status["state"], status["sent"], status["cancelled"], status["remaining"]) == (
        "cancelled",
        1,
        3,
        0,
    )
    code, _out, err = run(capsys, "broadcast", "cancel", str(created["id"]))
    assert code == 2 and "cannot be cancelled" in err


def test_a_campaign_for_later_is_not_queued_yet(
    capsys: pytest.CaptureFixture[str], database: str, tmp_path: Path
) -> None:
    message = tmp_path / "message.html"
    message.write_text("<i>下周一</i>起开放预约。", encoding="utf-8")
    code, out, _err = run(capsys, "broadcast", "create", "--audience", "operators", "--file", str(message),
                          "--at", "2099-01-01T09:00:00", "--json")  # fmt: skip
    assert code == 2  # more than 60 days ahead

    code, out, _err = run(capsys, "broadcast", "create", "--audience", "operators", "--file", str(message),
                          "--at", (SystemClock().now() + dt.timedelta(hours=2)).isoformat(), "--json")  # fmt: skip
    created = json.loads(out)
    assert code == 0 and created["state"] == "scheduled" and created["total"] == 1

    async def queued() -> int:
        db = Database(database)
        try:
            settings = Settings(_env_file=None, database_url=database)  # type: ignore[call-arg]
            campaign = await Campaigns(db, SystemClock(), settings).require(int(created["id"]))
            return campaign.total
        finally:
            await db.dispose()

    assert asyncio.run(queued()) == 0  # the running bot queues it ten minutes before its time


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "<br>"], "Telegram would refuse the HTML: <br> is not supported"),
        (["--text", "x", "--district", "火星区"], "unknown district '火星区'"),
        (["--text", "x", "--language", "fr"], "unknown language 'fr'"),
        (["--text", "x", "--at", "next week"], "--at: expected an ISO-8601 moment"),
        (["--file", "/nonexistent/message.txt"], "cannot read"),
    ],
)
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _out, err = run(capsys, "broadcast", "create", "--audience", "all", *args)
    assert code == 2 and message in err
    code, _out, err = run(capsys, "broadcast", "status", "999")
    assert code == 2 and "no broadcast with the id 999" in err
