"""The core services a channel (Telegram, the console, the CLI) works with, wired in one place.

Handlers reach them through ``context.services``; nothing is looked up by string.
"""

from __future__ import annotations

import dataclasses

from bot.accounts import Accounts
from bot.answers import AnswerService
from bot.clock import Clock, SystemClock
from bot.directory.service import DirectoryService
from bot.leave_plans import LeaveService
from bot.settings import Settings
from bot.staff import Staff
from bot.storage.db import Database


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    staff: Staff
    accounts: Accounts
    answers: AnswerService
    leave: LeaveService
    directory: DirectoryService

    @classmethod
    def build(cls, settings: Settings, *, db: Database | None = None, clock: Clock | None = None) -> Services:
        clock = clock or SystemClock()
        db = db or Database(settings.database_url)
        leave = LeaveService()
        staff = Staff(db, clock, settings)
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            staff=staff,
            accounts=Accounts(db, clock, settings, staff),
            answers=AnswerService(db, clock, leave=leave, tz=settings.tz),
            leave=leave,
            directory=DirectoryService(db, clock, settings),
        )

    async def close(self) -> None:
        await self.db.dispose()
