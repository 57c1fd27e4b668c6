"""A simulated Telegram user talking to the real Application through the in-process Bot API.

Builds genuine ``Update`` objects (messages, commands, button presses, locations) and returns what
the bot sent back. Used by ``carebot console`` and by the end-to-end tests.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.transport import ApiCall, InProcessBotAPI

_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)


@dataclasses.dataclass
class SimulatedUser:
    id: int
    first_name: str = "测试"
    language_code: str | None = "zh-hans"
    username: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


class ChatSession:
    """One private chat between a simulated user and the bot."""

    def __init__(self, app: Application, api: InProcessBotAPI, user: SimulatedUser) -> None:
        self.app = app
        self.api = api
        self.user = user

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.user.id, "type": "private", "first_name": self.user.first_name}

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user.as_dict(),
            **content,
        }

    async def send(self, text: str) -> list[ApiCall]:
        """Send a text message (a command when it starts with ``/``) and return the bot's calls."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self._process({"message": self._message(**content)})

    async def send_location(self, latitude: float, longitude: float) -> list[ApiCall]:
        return await self._process(
            {"message": self._message(location={"latitude": latitude, "longitude": longitude})}
        )

    async def send_sticker(self) -> list[ApiCall]:
        sticker = {
            "file_id": "sticker",
            "file_unique_id": "sticker",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        return await self._process({"message": self._message(sticker=sticker)})

    async def press(self, data_or_text: str, *, message: ApiCall | None = None) -> list[ApiCall]:
        """Press an inline button, found by its callback data or its label, on the newest message with it."""
        call, button = self._find_button(data_or_text, message)
        markup = call.params.get("reply_markup")
        return await self.press_data(
            str(button["callback_data"]),
            message_id=self._message_id_of(call),
            text=call.text,
            reply_markup=json.loads(markup) if isinstance(markup, str) else markup,
        )

    async def press_data(
        self, data: str, *, message_id: int = 1, text: str = "", reply_markup: dict[str, Any] | None = None
    ) -> list[ApiCall]:
        """Send a callback query with arbitrary data (also forged data, for the tests); the pressed message
        carries ``reply_markup`` as Telegram's does."""
        bot_message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": {"id": self.api.bot_id, "is_bot": True, "first_name": "CareBot"},
            "text": text or "…",
        }
        if reply_markup:
            bot_message["reply_markup"] = reply_markup
        query = {
            "id": str(next(_callback_ids)),
            "from": self.user.as_dict(),
            "chat_instance": str(self.user.id),
            "message": bot_message,
            "data": data,
        }
        return await self._process({"callback_query": query})

    def buttons(self, call: ApiCall | None = None) -> list[dict[str, Any]]:
        call = call or self.last_with_buttons()
        return call.buttons if call else []

    def last_with_buttons(self) -> ApiCall | None:
        for call in reversed(self.api.calls):
            if call.chat_id == self.user.id and call.buttons:
                return call
        return None

    def _find_button(self, wanted: str, message: ApiCall | None) -> tuple[ApiCall, dict[str, Any]]:
        candidates = (
            [message] if message else [c for c in reversed(self.api.calls) if c.chat_id == self.user.id]
        )
        for call in candidates:
            for button in call.buttons:
                if "callback_data" in button and wanted in (button["callback_data"], button["text"]):
                    return call, button
        raise LookupError(f"no button {wanted!r} in the chat")

    def _message_id_of(self, call: ApiCall) -> int:
        if call.method == "editMessageText":
            return int(call.params.get("message_id") or 1)
        return self.api.message_ids.get(call.seq, 1)

    async def _process(self, payload: dict[str, Any]) -> list[ApiCall]:
        before = self.api.last_seq
        data = {"update_id": self.api.next_update_id(), **payload}
        update = Update.de_json(data, self.app.bot)
        await self.app.process_update(update)
        return self.api.calls_since(before)


def replies_text(calls: list[ApiCall]) -> str:
    """All the text the bot sent or edited in these calls, joined: handy in assertions."""
    return "\n".join(c.text for c in calls if c.text)
