"""The broadcast Done-when scenario with ``carebot run`` as a real process against a Bot API server on
loopback: faults, a kill -9 a third of the way through, a restart, and every figure checked after."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.apiserver import BotAPIServer
from bot.clock import SystemClock
from bot.settings import Settings
from bot.storage.db import Database
from bot.transport import Reply
from schedules.broadcasts import Audience, Campaigns
from schedules.outbox import OUTBOX, OutboxState
from tests.conftest import database_url_for
from tests.process_support import server_fixture, until  # noqa: F401  (the `server` fixture)
from tests.schedules_support import max_in_window
from tests.test_broadcasts import people

pytestmark = pytest.mark.slow

RATE = 50
SEED = 20261123
TEXT = "<b>厦门市卫健委</b>：婴幼儿照护指导信息（演练）。"
# Server timestamps carry the transport's jitter: the pacer spaces the sends, but on a busy two-core
# machine (bot, test, database and server processes) one request can be held up for a tenth of a second
# and arrive just before the next, so the cap is checked over windows this much shorter than a second.
JITTER = 0.15


class SeededFaults:
    """Answers 3% of sends with 429 and 2% with 500, decided per (chat, attempt) from a seed, so the
    same sends fail whatever the timing."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.attempts: collections.Counter[int] = collections.Counter()
        self.injected: collections.Counter[int] = collections.Counter()

    def __call__(self, method: str, params: dict[str, Any]) -> Reply | None:
        if method != "sendMessage":
            return None
        chat = int(params["chat_id"])
        attempt = self.attempts[chat]
        self.attempts[chat] += 1
        draw = random.Random(f"{self.seed}:{chat}:{attempt}").random()
        if draw < 0.03:
            self.injected[429] += 1
            return Reply(429, "Too Many Requests: retry after 1", retry_after=1)
        if draw < 0.05:
            self.injected[500] += 1
            return Reply(500, "Internal Server Error")
        return None


class KillSwitch:
    """Kills the bot process (SIGKILL) while the Bot API handles the ``at``-th delivery of the campaign:
    that request and any others on the wire are delivered, but the bot never hears back."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.delivered = 0
        self.process: asyncio.subprocess.Process | None = None
        self.fired = False

    def __call__(self, method: str, params: dict[str, Any]) -> None:
        if method != "sendMessage" or params.get("text") != TEXT or self.process is None:
            return None
        self.delivered += 1
        if self.delivered >= self.at and not self.fired:
            self.fired = True
            self.process.kill()
        return None


def environment(server: BotAPIServer, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CAREBOT_TELEGRAM_TOKEN": "123456:TEST-token-for-loopback",
        "CAREBOT_TELEGRAM_API_URL": server.base_url,
        "CAREBOT_DATABASE_URL": database_url,
        "CAREBOT_BROADCAST_RATE": str(RATE),
        # Rows the killed process held come back after the lease; a short one keeps the test quick.
        "CAREBOT_OUTBOX_LEASE": "5",
        "PTB_TIMEDELTA": "true",
    }


async def start_bot(
    server: BotAPIServer, database_url: str, tmp_path: Path, log: Path
) -> asyncio.subprocess.Process:
    since = server.api.last_seq
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run",
            cwd=tmp_path, env=environment(server, database_url),
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    # Ready once post_init has set the menus.
    try:
        await until(
            lambda: (
                process.returncode is not None
                or any(c.method == "setMyCommands" for c in server.api.calls_since(since))
            ),
            60,
        )
    except AssertionError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is None, read_log(log)[-3000:]
    return process


def read_log(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


async def carebot(server: BotAPIServer, database_url: str, tmp_path: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args,
        cwd=tmp_path, env=environment(server, database_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def deliveries(server: BotAPIServer) -> collections.Counter[int]:
    """Successful sends of the campaign's text, per chat."""
    api = server.api
    return collections.Counter(
        int(c.chat_id or 0)
        for c in api.calls
        if c.method == "sendMessage" and c.text == TEXT and c.seq in api.message_ids
    )


async def test_a_campaign_survives_faults_and_a_kill(
    server: BotAPIServer, db: Database, tmp_path: Path, settings: Settings
) -> None:
    url = database_url_for(tmp_path)
    users = list(range(10_001, 10_301))
    blocked = set(random.Random(SEED).sample(users, 10))
    await people(db, range(10_001, 10_301))
    server.api.blocked_chats.update(blocked)
    faults = SeededFaults(SEED)
    # The blocked check comes after the hooks, so the switch counts only sends that will be delivered.
    switch = KillSwitch(at=100)
    server.api.faults += [
        faults,
        lambda method, params: None if int(params.get("chat_id") or 0) in blocked else switch(method, params),
    ]
    log = tmp_path / "bot.log"

    process = await start_bot(server, url, tmp_path, log)
    switch.process = process
    try:
        created = json.loads(
            await carebot(
                server, url, tmp_path, "broadcast", "create", "--audience", "all", "--text", TEXT, "--json"
            )
        )
        campaign_id = int(created["id"])
        assert created["total"] == 300
        await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert switch.fired and process.returncode == -9

    # What the dead process had claimed and not recorded: the only rows that may go out twice.
    async with db.engine.connect() as conn:
        in_flight = set(
            (
                await conn.execute(
                    select(OUTBOX.c.recipient_id).where(
                        OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.state == OutboxState.SENDING.value
                    )
                )
            ).scalars()
        )
    delivered_before_kill = sum(deliveries(server).values())
    assert 100 <= delivered_before_kill < 290, "the kill came a third of the way through"

    campaigns = Campaigns(db, SystemClock(), settings)

    async def finished() -> bool:
        return (await campaigns.progress(campaign_id)).finished

    process = await start_bot(server, url, tmp_path, log)
    try:
        # The dead process's claims come back after their lease, 5xx retries after their backoff.
        await until(finished, 180)
    finally:
        process.terminate()
        await process.wait()

    status = json.loads(
        await carebot(server, url, tmp_path, "broadcast", "status", str(campaign_id), "--json")
    )
    assert status["state"] == "done"
    assert (status["total"], status["sent"], status["blocked"], status["failed"], status["remaining"]) == (
        300, 290, 10, 0, 0,
    )  # fmt: skip

    got = deliveries(server)
    assert set(got) == set(users) - blocked, "every reachable person got the message"
    repeated = {chat for chat, n in got.items() if n > 1}
    assert repeated <= in_flight and all(n <= 2 for n in got.values())
    assert faults.injected[429] and faults.injected[500], "the seed injects both kinds of fault"

    sends = [c.at for c in server.api.calls if c.method == "sendMessage"]
    assert max_in_window(sends, 1.0 - JITTER) <= RATE
    # Over the whole run the average stays under the cap too (the window test allows for jitter).
    assert len(sends) <= RATE * (max(sends) - min(sends)) + RATE

    report = await carebot(server, url, tmp_path, "broadcast", "report", str(campaign_id))
    lines = report.strip().splitlines()
    assert lines[0] == "user_id,state,sent_at,error" and len(lines) == 301
    assert sum(1 for line in lines if ",blocked," in line) == 10
    errors = read_log(log)
    assert "Traceback" not in errors and "123456:TEST" not in errors


async def test_the_running_bot_fans_out_a_campaign_it_did_not_create(
    server: BotAPIServer, db: Database, tmp_path: Path, settings: Settings
) -> None:
    url = database_url_for(tmp_path)
    await people(db, range(20_001, 20_041))
    campaigns = Campaigns(db, SystemClock(), settings)
    # Created but never fanned out, as if `carebot broadcast create` had been interrupted at once.
    campaign = await campaigns.create(TEXT, Audience())
    process = await start_bot(server, url, tmp_path, tmp_path / "bot.log")
    try:
        await until(lambda: len(deliveries(server)) == 40, 60)

        async def finished() -> bool:
            return (await campaigns.progress(campaign.id)).finished

        await until(finished, 30)
    finally:
        process.terminate()
        await process.wait()
    assert sum(deliveries(server).values()) == 40
