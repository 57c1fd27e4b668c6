"""Commission staff (卫健委): the administrators named in CAREBOT_ADMIN_IDS and the people they grant
staff rights to with /grant; grants live in a table and every grant or revocation is audited.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from bot import audit
from bot.clock import Clock, utcnow
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.types import UTCDateTime


class StaffGrant(SQLModel, table=True):
    """Staff rights given to a person by an administrator; who granted them is in the audit log."""

    __tablename__ = "staff_grants"
    __table_args__ = ({"info": {"personal_key": "user_id", "on_forget": "delete"}},)

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    granted_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


GRANTS: Table = StaffGrant.__table__  # type: ignore[attr-defined]


class StaffError(Exception):
    """A grant or revocation that cannot be done; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Staff:
    """Who is commission staff, and the grants that make someone staff."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    def is_admin(self, user_id: int) -> bool:
        """Only the administrators of the configuration may grant and revoke."""
        return self._settings.is_admin(user_id)

    async def is_staff(self, user_id: int) -> bool:
        if self._settings.is_admin(user_id):
            return True
        async with self._db.engine.connect() as conn:
            found = (await conn.execute(select(GRANTS.c.user_id).where(GRANTS.c.user_id == user_id))).first()
        return found is not None

    async def granted(self) -> list[int]:
        async with self._db.engine.connect() as conn:
            return [
                int(u)
                for u in (await conn.execute(select(GRANTS.c.user_id).order_by(GRANTS.c.user_id))).scalars()
            ]

    async def grant(self, actor_id: int, user_id: int) -> bool:
        """Make ``user_id`` staff; False when they already were. Only an administrator may."""
        if not self.is_admin(actor_id):
            await audit.record(
                self._db, self._clock, actor_id=actor_id, action="staff.grant_refused", target=str(user_id)
            )
            raise StaffError("not_admin")
        if user_id <= 0:
            raise StaffError("bad_user")
        if self.is_admin(user_id):
            return False
        insert = (postgresql.insert if self._db.is_postgres else sqlite.insert)(GRANTS)
        stmt = (
            insert.values(user_id=user_id, granted_at=self._clock.now())
            .on_conflict_do_nothing(index_elements=["user_id"])
            .returning(GRANTS.c.user_id)
        )
        async with self._db.engine.begin() as conn:
            added = (await conn.execute(stmt)).first() is not None
        if not added:
            return False
        await audit.record(
            self._db, self._clock, actor_id=actor_id, action="staff.granted", target=str(user_id)
        )
        return True

    async def revoke(self, actor_id: int, user_id: int) -> bool:
        """Take staff rights away; False when there was no grant. Configured administrators stay."""
        if not self.is_admin(actor_id):
            await audit.record(
                self._db, self._clock, actor_id=actor_id, action="staff.revoke_refused", target=str(user_id)
            )
            raise StaffError("not_admin")
        if self.is_admin(user_id):
            raise StaffError("configured_admin")
        async with self._db.engine.begin() as conn:
            result = await conn.execute(delete(GRANTS).where(GRANTS.c.user_id == user_id))
            removed = bool(result.rowcount)
        if removed:
            await audit.record(
                self._db, self._clock, actor_id=actor_id, action="staff.revoked", target=str(user_id)
            )
        return removed
