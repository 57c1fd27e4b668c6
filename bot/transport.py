"""An in-process Bot API: a ``BaseRequest`` that answers the bot's Bot API calls without any network.

It records every outgoing call, feeds updates, and can be told to fail (429, 5xx, 403, timeouts).
``carebot console`` chats through it in the terminal; the tests drive the real Application with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html.parser
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

BOT_ID = 7000000001
BOT_USERNAME = "carebot_local_bot"
MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA = 64
# Tags Telegram accepts in parse_mode=HTML.
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip

SEND_METHODS = {
    "sendMessage", "sendVenue", "sendLocation", "sendDocument", "sendPhoto", "copyMessage", "forwardMessage",
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ApiCall:
    """One Bot API request the bot made, with its decoded parameters."""

    method: str
    params: dict[str, Any]
    seq: int
    at: float

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline buttons of the call's reply markup, in reading order."""
        markup = self.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if not isinstance(markup, dict):
            return []
        rows = markup.get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def keyboard(self) -> list[dict[str, Any]]:
        """Reply-keyboard buttons (for example "share my location")."""
        markup = self.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if not isinstance(markup, dict):
            return []
        return [
            b if isinstance(b, dict) else {"text": b} for row in markup.get("keyboard") or [] for b in row
        ]


@dataclasses.dataclass(frozen=True)
class Reply:
    """What a fault hook wants the API to answer instead of the normal result."""

    status: int
    description: str
    retry_after: int | None = None

    def payload(self) -> bytes:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return json.dumps(body).encode()


FaultHook = Callable[[str, dict[str, Any]], "Reply | BaseException | None"]


class _HTMLChecker(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = f'Unexpected end tag "{tag}"'
        else:
            self.stack.pop()


def check_html(text: str) -> str | None:
    """Return Telegram's complaint about an HTML-formatted text, or None when it would parse."""
    checker = _HTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.error:
        return checker.error
    if checker.stack:
        return f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return None


class InProcessBotAPI(BaseRequest):
    """A Bot API server living inside the process, good enough for the methods CareBot uses."""

    def __init__(self, *, bot_id: int = BOT_ID, username: str = BOT_USERNAME) -> None:
        self.bot_id = bot_id
        self.username = username
        self.calls: list[ApiCall] = []
        self.faults: list[FaultHook] = []
        self.blocked_chats: set[int] = set()
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self._seq = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._updates_changed: asyncio.Condition | None = None
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.message_ids: dict[int, int] = {}

    # -- BaseRequest -------------------------------------------------------------------------
    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = None,
        write_timeout: ODVInput[float] = None,
        connect_timeout: ODVInput[float] = None,
        pool_timeout: ODVInput[float] = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data and request_data.contains_files:
            for name, value in request_data.multipart_data.items():
                content = value[1]
                params.setdefault(
                    name, {"filename": value[0], "size": len(content) if isinstance(content, bytes) else None}
                )
        return await self.handle(
            api_method, params, read_timeout if isinstance(read_timeout, float | int) else None
        )

    async def handle(
        self, api_method: str, params: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, bytes]:
        """Answer one Bot API method call: record it, apply faults, and produce the JSON reply."""
        call = ApiCall(api_method, params, next(self._seq), time.monotonic())
        if api_method != "getUpdates":
            self.calls.append(call)
        for hook in list(self.faults):
            outcome = hook(api_method, params)
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, Reply):
                return outcome.status, outcome.payload()
        chat_id = params.get("chat_id")
        if api_method in SEND_METHODS and chat_id is not None and int(chat_id) in self.blocked_chats:
            return 403, Reply(403, "Forbidden: bot was blocked by the user").payload()
        handler = getattr(self, f"_api_{api_method}", None)
        if handler is None:
            return 200, json.dumps({"ok": True, "result": True}).encode()
        try:
            result = await handler(params, timeout)
        except _BadRequest as exc:
            return 400, Reply(400, f"Bad Request: {exc}").payload()
        if isinstance(result, dict) and "message_id" in result:
            self.message_ids[call.seq] = int(result["message_id"])
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # -- feeding updates ---------------------------------------------------------------------
    def feed(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (polling) and return it with its id."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        if self._updates_changed is not None:
            condition = self._updates_changed

            async def notify() -> None:
                async with condition:
                    condition.notify_all()

            try:
                asyncio.get_running_loop().create_task(notify())
            except RuntimeError:
                pass
        return update

    async def release_long_polls(self) -> None:
        """Answer every getUpdates long poll waiting now (with no updates), as a closing server does."""
        if self._updates_changed is not None:
            async with self._updates_changed:
                self._updates_changed.notify_all()

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def calls_since(self, seq: int) -> list[ApiCall]:
        return [call for call in self.calls if call.seq > seq]

    @property
    def last_seq(self) -> int:
        return self.calls[-1].seq if self.calls else 0

    def sent(self, chat_id: int | None = None) -> list[ApiCall]:
        return [
            c
            for c in self.calls
            if c.method in SEND_METHODS | {"editMessageText"} and (chat_id is None or c.chat_id == chat_id)
        ]

    # -- Bot API methods ---------------------------------------------------------------------
    async def _api_getMe(self, params: dict[str, Any], _timeout: float | None) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "CareBot",
            "username": self.username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any], _timeout: float | None) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and params.get("timeout"):
            if self._updates_changed is None:
                self._updates_changed = asyncio.Condition()
            async with self._updates_changed:
                try:
                    await asyncio.wait_for(self._updates_changed.wait(), timeout=float(params["timeout"]))
                except TimeoutError:
                    pass
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    async def _api_setMyCommands(self, params: dict[str, Any], _t: float | None) -> bool:
        scope = params.get("scope") or {"type": "default"}
        key = f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code') or ''}"
        self.commands[key] = list(params.get("commands") or [])
        return True

    async def _api_sendMessage(self, params: dict[str, Any], _t: float | None) -> dict[str, Any]:
        text = str(params.get("text") or "")
        self._check_text(text, params)
        return self._store_message(params, {"text": text})

    async def _api_sendVenue(self, params: dict[str, Any], _t: float | None) -> dict[str, Any]:
        venue = {
            "location": {"latitude": params["latitude"], "longitude": params["longitude"]},
            "title": params["title"],
            "address": params["address"],
        }
        return self._store_message(params, {"venue": venue, "location": venue["location"]})

    async def _api_sendLocation(self, params: dict[str, Any], _t: float | None) -> dict[str, Any]:
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        return self._store_message(params, {"location": location})

    async def _api_sendDocument(self, params: dict[str, Any], _t: float | None) -> dict[str, Any]:
        document = {"file_id": f"doc{next(self._seq)}", "file_unique_id": "u", "file_name": "file"}
        return self._store_message(params, {"document": document, "caption": params.get("caption")})

    async def _api_editMessageText(self, params: dict[str, Any], _t: float | None) -> dict[str, Any] | bool:
        text = str(params.get("text") or "")
        self._check_text(text, params)
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        message = self.messages.get(key)
        if message is None:
            raise _BadRequest("message to edit not found")
        if message.get("text") == text and message.get("reply_markup") == params.get("reply_markup"):
            raise _BadRequest("message is not modified")
        message = {**message, "text": text, "edit_date": int(time.time())}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        self.messages[key] = message
        return message

    async def _api_editMessageReplyMarkup(
        self, params: dict[str, Any], _t: float | None
    ) -> dict[str, Any] | bool:
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        message = self.messages.get(key)
        if message is None:
            raise _BadRequest("message to edit not found")
        message = {**message}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        self.messages[key] = message
        return message

    def _check_text(self, text: str, params: dict[str, Any]) -> None:
        if not text.strip():
            raise _BadRequest("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _BadRequest("message is too long")
        if params.get("parse_mode") == "HTML":
            problem = check_html(text)
            if problem:
                raise _BadRequest(f"can't parse entities: {problem}")
        for button in ApiCall("x", params, 0, 0).buttons:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise _BadRequest("BUTTON_DATA_INVALID")

    def _store_message(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "CareBot", "username": self.username},
            **{k: v for k, v in content.items() if v is not None},
        }
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        # Telegram echoes only inline keyboards in the sent Message; reply keyboards stay client-side.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        return message


class _BadRequest(Exception):
    pass


def network_failure(message: str = "simulated network failure") -> NetworkError:
    return NetworkError(message)


def timeout_failure() -> TimedOut:
    return TimedOut("simulated timeout")
