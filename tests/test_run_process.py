"""``carebot run`` as a real process against a Bot API server on loopback: polling, answers, restarts."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.apiserver import BotAPIServer
from bot.storage.db import Database
from bot.transport import ApiCall
from tests.conftest import database_url_for
from tests.process_support import server_fixture, until  # noqa: F401  (the `server` fixture)

pytestmark = pytest.mark.slow
USER = {"id": 4242, "is_bot": False, "first_name": "Ming", "language_code": "en"}
CHAT = {"id": 4242, "type": "private", "first_name": "Ming"}


async def start_bot(server: BotAPIServer, database_url: str, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "CAREBOT_TELEGRAM_TOKEN": "123456:TEST-token-for-loopback",
        "CAREBOT_TELEGRAM_API_URL": server.base_url,
        "CAREBOT_DATABASE_URL": database_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_for(server: BotAPIServer, predicate: Any, since: int, timeout: float = 60) -> ApiCall:
    """Wait until the bot made a call matching ``predicate`` (the bot runs in another process)."""

    def found() -> ApiCall | None:
        return next((call for call in server.api.calls_since(since) if predicate(call)), None)

    call = await until(
        found,
        timeout,
        lambda: f"the bot did not answer in {timeout} s; calls: {[c.method for c in server.api.calls]}",
    )
    assert call is not None
    return call


def message(text: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "message_id": int(time.time() * 1000) % 10**9,
        "date": int(time.time()),
        "chat": CHAT,
        "from": USER,
        "text": text,
    }
    if text.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": content}


def press(data: str, message_id: int) -> dict[str, Any]:
    bot_message = {"message_id": message_id, "date": int(time.time()), "chat": CHAT, "text": "…"}
    return {
        "callback_query": {
            "id": str(time.time_ns()),
            "from": USER,
            "chat_instance": "1",
            "message": bot_message,
            "data": data,
        }
    }


async def say(server: BotAPIServer, update: dict[str, Any]) -> ApiCall:
    since = server.api.last_seq
    server.api.feed(update)
    return await wait_for(
        server, lambda c: c.method in ("sendMessage", "editMessageText") and c.chat_id == 4242, since
    )


async def test_run_answers_and_remembers_after_restart(
    server: BotAPIServer, db: Database, tmp_path: Path
) -> None:
    url = database_url_for(tmp_path)
    process = await start_bot(server, url, tmp_path)
    try:
        reply = await say(server, message("/start"))
        assert "Hello" in reply.text
        message_id = server.api.message_ids[reply.seq]
        for data in ("ob:l:en", "ob:r:parent", "ob:d:parent:湖里区", "ob:c:parent:湖里区"):
            await say(server, press(data, message_id))
        reply = await say(server, message("/help"))
        assert "/settings" in reply.text
        assert any(key.endswith("|en") for key in server.api.commands), "menus are set per language"
    finally:
        process.terminate()
        _out, err = await process.communicate()
    assert b"123456:TEST" not in err, "the token must never be logged"

    process = await start_bot(server, url, tmp_path)
    try:
        reply = await say(server, message("/settings"))
        assert "湖里区" in reply.text and "parent" in reply.text
    finally:
        process.terminate()
        await process.communicate()


async def test_run_without_token_names_console(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CAREBOT_TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await process.communicate()
    assert process.returncode == 2
    assert b"carebot console" in err


async def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "CAREBOT_BROADCAST_RATE": "fast"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "db", "upgrade", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await process.communicate()
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "CAREBOT_BROADCAST_RATE" in lines[0]


async def test_webhook_mode_refuses_requests_without_the_secret(
    server: BotAPIServer, db: Database, tmp_path: Path
) -> None:
    import json
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env_extra = {
        "CAREBOT_WEBHOOK_URL": f"https://bot.example.invalid/hook/{port}",
        "CAREBOT_WEBHOOK_SECRET": "s3cret-token",
        "CAREBOT_WEBHOOK_LISTEN": "127.0.0.1",
        "CAREBOT_WEBHOOK_PORT": str(port),
    }
    os.environ.update(env_extra)
    try:
        process = await start_bot(server, database_url_for(tmp_path), tmp_path)
    finally:
        for key in env_extra:
            os.environ.pop(key, None)
    try:
        await wait_for(server, lambda c: c.method == "setWebhook", 0)
        set_webhook = next(c for c in server.api.calls if c.method == "setWebhook")
        assert set_webhook.params.get("secret_token") == "s3cret-token"
        body = json.dumps({"update_id": 1, **message("/start")}).encode()

        def post(headers: dict[str, str]) -> int:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/hook/{port}",
                data=body,
                headers={"Content-Type": "application/json", **headers},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            try:
                status = await asyncio.to_thread(post, {})
                break
            except OSError:
                await asyncio.sleep(0.1)  # the webhook server is still starting
        assert status == 403
        since = server.api.last_seq
        assert await asyncio.to_thread(post, {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}) == 200
        reply = await wait_for(server, lambda c: c.method == "sendMessage", since)
        assert "Hello" in reply.text
    finally:
        process.terminate()
        await process.communicate()
