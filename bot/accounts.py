"""People and their choices: language, role, district, consent; export (/mydata) and deletion (/forget).

Only the language is stored before consent (PIPL: minimum data, guardian consent first).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Table, delete, update
from sqlmodel import SQLModel, select

from bot import audit
from bot.clock import Clock
from bot.settings import Settings
from bot.staff import Staff
from bot.storage.db import Database
from bot.storage.models import Role, User

# Tables that hold a person's data declare it in ``__table_args__ = {"info": {...}}``:
#   "personal_key": the column holding the Telegram user id,
#   "on_forget": "delete" (default) or "anonymise" (set that column to NULL, keep the row).
PERSONAL_KEY = "personal_key"
ON_FORGET = "on_forget"


class AccountError(Exception):
    """A request about an account that cannot be honoured; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Profile:
    """What the bot knows about a person."""

    id: int
    language: str | None
    role: Role | None
    district: str | None
    consent_at: dt.datetime | None
    broadcasts_enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def consented(self) -> bool:
        return self.consent_at is not None

    @classmethod
    def from_row(cls, row: User) -> Profile:
        return cls(
            id=row.id,
            language=row.language,
            role=Role(row.role) if row.role else None,
            district=row.district,
            consent_at=row.consent_at,
            broadcasts_enabled=row.broadcasts_enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def personal_tables() -> list[tuple[Table, str, str]]:
    """Every table that names a person: (table, column, what /forget does to it)."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        key = table.info.get(PERSONAL_KEY)
        if key:
            found.append((table, key, table.info.get(ON_FORGET, "delete")))
    return found


class Accounts:
    """The user repository and the rules around it."""

    def __init__(self, db: Database, clock: Clock, settings: Settings, staff: Staff) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._staff = staff

    async def get(self, user_id: int) -> Profile | None:
        async with self._db.session() as session:
            row = await session.get(User, user_id)
            return Profile.from_row(row) if row else None

    async def touch(self, user_id: int, language: str | None = None) -> Profile:
        """Make sure the person has a row (they started the bot); keep an existing language choice."""
        now = self._clock.now()
        async with self._db.session() as session:
            row = await session.get(User, user_id)
            if row is None:
                row = User(id=user_id, language=language, created_at=now, updated_at=now)
                session.add(row)
                await session.flush()
            elif row.blocked_at is not None:
                # They are writing to the bot again, so they unblocked it: deliveries may resume.
                row.blocked_at = None
                row.updated_at = now
                await session.flush()
            return Profile.from_row(row)

    async def set_language(self, user_id: int, language: str) -> Profile:
        return await self._update(user_id, language=language)

    async def complete_onboarding(self, user_id: int, *, role: Role, district: str | None) -> Profile:
        """Store the role and district together with the consent that allows storing them."""
        await self._check_role(user_id, role)
        self._check_district(district)
        return await self._update(user_id, role=role.value, district=district, consent_at=self._clock.now())

    async def set_role(self, user_id: int, role: Role) -> Profile:
        await self._require_consent(user_id)
        await self._check_role(user_id, role)
        return await self._update(user_id, role=role.value)

    async def set_district(self, user_id: int, district: str | None) -> Profile:
        """Set the person's district, or clear it (None: not in the city, or rather not say)."""
        await self._require_consent(user_id)
        self._check_district(district)
        return await self._update(user_id, district=district)

    async def withdraw_consent(self, user_id: int) -> Profile:
        """Keep only the language, as before consent."""
        return await self._update(user_id, role=None, district=None, consent_at=None)

    async def set_broadcasts(self, user_id: int, enabled: bool) -> Profile:
        profile = await self._update(user_id, broadcasts_enabled=enabled)
        if not enabled:
            # Turning guidance off also stops the copies already queued for this person.
            from schedules.outbox import Outbox

            await Outbox(self._db, self._clock).cancel(recipient_id=user_id, key_prefix="broadcast:")
        return profile

    async def export(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every row in every table that names this person, as plain values."""
        result: dict[str, list[dict[str, Any]]] = {}
        async with self._db.engine.connect() as conn:
            for table, key, _policy in [(User.__table__, "id", "delete"), *personal_tables()]:  # type: ignore[attr-defined]
                rows = (await conn.execute(table.select().where(table.c[key] == user_id))).mappings()
                values = [{k: _plain(v) for k, v in row.items()} for row in rows]
                if values:
                    result[table.name] = values
        return result

    async def forget(self, user_id: int) -> None:
        """Delete the person everywhere; privileged-action events stay, without their id."""
        async with self._db.engine.begin() as conn:
            for table, key, policy in reversed(personal_tables()):
                if policy == "anonymise":
                    await conn.execute(update(table).where(table.c[key] == user_id).values({key: None}))
                else:
                    await conn.execute(delete(table).where(table.c[key] == user_id))
            await conn.execute(delete(User).where(User.id == user_id))  # type: ignore[arg-type]
        await audit.record(self._db, self._clock, actor_id=None, action="user.forgotten")

    async def count(self) -> int:
        async with self._db.session() as session:
            return len(list(await session.exec(select(User.id))))

    async def _check_role(self, user_id: int, role: Role) -> None:
        if role is Role.COMMISSION and not await self._staff.is_staff(user_id):
            raise AccountError("not_staff")

    def _check_district(self, district: str | None) -> None:
        if district is not None and district not in self._settings.districts:
            raise AccountError("unknown_district")

    async def _require_consent(self, user_id: int) -> None:
        profile = await self.get(user_id)
        if profile is None or not profile.consented:
            raise AccountError("no_consent")

    async def _update(self, user_id: int, **values: Any) -> Profile:
        now = self._clock.now()
        async with self._db.session() as session:
            row = await session.get(User, user_id)
            if row is None:
                row = User(id=user_id, created_at=now, updated_at=now)
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            await session.flush()
            return Profile.from_row(row)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
