"""``carebot console``: the same Application and handlers, chatting in the terminal.

Runs through the in-process Bot API, so it needs no token and no network. Buttons are shown as
numbered choices; type the number to press one.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from bot.app import build_application
from bot.i18n import translator
from bot.services import Services
from bot.simulator import ChatSession, SimulatedUser
from bot.transport import ApiCall, InProcessBotAPI

CONSOLE_USER_ID = 10001
HELP = """Type a message or a /command and press Enter.
  1, 2, 3 …          press the numbered button of the last message
  /location LAT LON  share a location (for example /location 24.4798 118.0894)
  :quit              leave (Ctrl-D works too)"""


def render(call: ApiCall) -> list[str]:
    """Turn one outgoing Bot API call into console lines."""
    lines: list[str] = []
    if call.method in ("sendMessage", "editMessageText"):
        marker = "✎ " if call.method == "editMessageText" else ""
        lines.append(marker + call.text)
    elif call.method == "sendVenue":
        p = call.params
        lines.append(f"📍 {p.get('title')} — {p.get('address')} ({p.get('latitude')}, {p.get('longitude')})")
    elif call.method == "sendLocation":
        lines.append(f"📍 {call.params.get('latitude')}, {call.params.get('longitude')}")
    elif call.method == "sendDocument":
        lines.append(f"📎 {call.params.get('caption') or 'document'}")
    elif call.method == "answerCallbackQuery" and call.params.get("text"):
        lines.append(f"({call.params['text']})")
    for index, button in enumerate(call.buttons, start=1):
        lines.append(f"  [{index}] {button.get('text')}")
    for button in call.keyboard:
        if button.get("request_location"):
            lines.append(f"  ⌨ {button.get('text')}  (type /location LAT LON)")
        else:
            lines.append(f"  ⌨ {button.get('text')}")
    return lines


async def _read_line(prompt: str, stream: TextIO) -> str | None:
    if stream is sys.stdin and stream.isatty():
        try:
            return await asyncio.to_thread(input, prompt)
        except EOFError:
            return None
    line = await asyncio.to_thread(stream.readline)
    return None if line == "" else line.rstrip("\n")


async def run_console(
    services: Services,
    *,
    user_id: int = CONSOLE_USER_ID,
    language_code: str | None = "zh-hans",
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    api = InProcessBotAPI()
    app = build_application(services, request=api)
    session = ChatSession(app, api, SimulatedUser(user_id, first_name="Console", language_code=language_code))

    def show(calls: list[ApiCall]) -> None:
        for call in calls:
            for line in render(call):
                print(line, file=stdout)
        stdout.flush()

    async with app:
        await app.start()
        try:
            print(HELP, file=stdout)
            show(await session.send("/start"))
            while True:
                line = await _read_line("> ", stdin)
                if line is None or line.strip() in (":quit", ":q", ":exit"):
                    break
                text = line.strip()
                if not text:
                    continue
                if text.isdigit():
                    last = session.last_with_buttons()
                    buttons = [b for b in session.buttons(last) if "callback_data" in b]
                    index = int(text) - 1
                    if last is not None and 0 <= index < len(buttons):
                        show(await session.press(str(buttons[index]["callback_data"]), message=last))
                        continue
                if text.startswith("/location"):
                    parts = text.split()
                    try:
                        show(await session.send_location(float(parts[1]), float(parts[2])))
                    except (IndexError, ValueError):
                        _ = translator(language_code)
                        print(
                            _("Usage: /location LAT LON, for example /location 24.4798 118.0894"), file=stdout
                        )
                    continue
                show(await session.send(text))
        finally:
            await app.stop()


def dump_calls(calls: list[ApiCall]) -> str:
    return "\n".join(json.dumps({"method": c.method, **c.params}, ensure_ascii=False) for c in calls)
