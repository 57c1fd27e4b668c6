"""Helpers for the outbox, dispatcher and compliance tests: nurseries with operators in the register,
virtual time that moves the fake clock, and a recorder of Bot API calls stamped in virtual time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

from telegram import Bot

from bot.app import LOCAL_TOKEN
from bot.clock import FakeClock
from bot.directory import repository as directory
from bot.directory.credit_code import check_character
from bot.directory.models import Institution
from bot.storage.db import Database
from bot.storage.models import User
from bot.transport import InProcessBotAPI, Reply
from schedules.dispatcher import Dispatcher
from schedules.pacing import VirtualTime

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
_serial = itertools.count(1)


def credit_code(n: int) -> str:
    first17 = f"52350200MJ{n:07d}"
    return first17 + check_character(first17)


async def add_user(
    db: Database, user_id: int, *, language: str | None = "zh_Hans", role: str | None = "operator"
) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with db.session() as session:
        if await session.get(User, user_id) is None:
            session.add(
                User(id=user_id, language=language, role=role, consent_at=now, created_at=now, updated_at=now)
            )


async def add_nursery(
    db: Database,
    *,
    name: str | None = None,
    legal_form: str | None = "enterprise",
    registered_on: dt.date | None = dt.date(2020, 3, 1),
    filed_on: dt.date | None = dt.date(2020, 4, 1),
    district: str | None = "思明区",
    operators: tuple[int, ...] = (),
    code: str | None = None,
    listed: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
) -> int:
    """Put a nursery in the register (on ``listed``) and link its operators through real claim codes."""
    n = next(_serial)
    now = listed
    async with db.session() as session:
        institution = Institution(
            name=name or f"测试托育园{n}",
            name_key=f"测试托育园{n}",
            credit_code=code or credit_code(n),
            legal_form=legal_form,
            district=district,
            lat=24.45,
            lon=118.08,
            registered_on=registered_on,
            filed_on=filed_on,
            created_at=now,
            updated_at=now,
        )
        session.add(institution)
        await session.flush()
        assert institution.id is not None
        institution_id = institution.id
    for operator in operators:
        await add_user(db, operator)
        (issued,) = await directory.claim_codes(db, [institution_id], reissue=True, now=now)
        await directory.claim(db, issued.code, operator, now=now)
    return institution_id


def linked_time(clock: FakeClock) -> VirtualTime:
    """Virtual monotonic time whose sleeps also move the fake clock, so database timestamps follow."""
    return VirtualTime(on_advance=lambda seconds: clock.advance(seconds=seconds))


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open window ``(t - window, t]`` of the given length."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclasses.dataclass
class Stamp:
    at: float
    chat_id: int | None
    method: str


class CallLog:
    """A fault hook that stamps each Bot API call with virtual time, and can inject answers."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.stamps: list[Stamp] = []
        self.script: dict[int, Reply | BaseException] = {}  # answer for the n-th send (1-based)
        self.per_chat: dict[int, list[Reply | BaseException]] = {}

    def __call__(self, method: str, params: dict[str, Any]) -> Reply | BaseException | None:
        if method != "sendMessage":
            return None
        chat = int(params["chat_id"])
        self.stamps.append(Stamp(self.vt.now, chat, method))
        queued = self.per_chat.get(chat)
        if queued:
            return queued.pop(0)
        return self.script.get(len(self.stamps))

    def max_in_window(self, window: float = 1.0, chat_id: int | None = None) -> int:
        return max_in_window([s.at for s in self.stamps if chat_id is None or s.chat_id == chat_id], window)


def make_bot(api: InProcessBotAPI) -> Bot:
    return Bot(LOCAL_TOKEN, request=api)


def make_dispatcher(
    db: Database, clock: FakeClock, api: InProcessBotAPI, *, rate: float = 25, **kwargs: Any
) -> tuple[Dispatcher, VirtualTime, CallLog]:
    vt = linked_time(clock)
    log = CallLog(vt)
    api.faults.append(log)
    dispatcher = Dispatcher(
        db, clock, make_bot(api), rate=rate, monotonic=vt.monotonic, sleep=vt.sleep, **kwargs
    )
    return dispatcher, vt, log


def sent_texts(api: InProcessBotAPI, chat_id: int) -> list[str]:
    return [c.text for c in api.sent(chat_id) if c.method == "sendMessage"]
