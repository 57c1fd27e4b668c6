"""Storage of compliance obligations: their state per cycle (done, snoozed), the last reminder day each
operator was sent for each, and the reads the planner needs (nurseries with operators, commission staff).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    delete,
    false,
    or_,
    select,
)
from sqlmodel import Field, SQLModel

from bot.clock import Clock, utcnow
from bot.directory.models import Institution, InstitutionOperator
from bot.storage.db import Database
from bot.storage.types import UTCDateTime
from schedules.outbox import NewMessage, Outbox, dialect_insert, insert_rows
from schedules.rules import Nursery

# Marks of cycles nobody has touched for this long are dropped: no rule looks back further than a year.
MARK_RETENTION = dt.timedelta(days=400)

ObligationKey = tuple[int, str, str]  # (institution id, rule id, cycle key)
MarkKey = tuple[int, int, str, str]  # (recipient id, institution id, rule id, cycle key)


class ObligationState(SQLModel, table=True):
    """A nursery's duty in one cycle, once someone acted on it: marked done, or put off ("later")."""

    __tablename__ = "obligation_states"
    __table_args__ = (
        UniqueConstraint("institution_id", "rule_id", "cycle", name="uq_obligation_states_obligation"),
        # The nursery's record stays when its operator asks to be forgotten; who marked it does not.
        {"info": {"personal_key": "done_by", "on_forget": "anonymise"}},
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("institutions.id", ondelete="CASCADE", name="fk_obligation_states_institution_id"),
            nullable=False,
        )
    )
    rule_id: str = Field(sa_column=Column(String(24), nullable=False))
    cycle: str = Field(sa_column=Column(String(16), nullable=False))
    done_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    done_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    snoozed_until: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ObligationReminder(SQLModel, table=True):
    """The last reminder day an operator was sent for a duty's cycle: what makes planning idempotent."""

    __tablename__ = "obligation_reminders"
    __table_args__ = ({"info": {"personal_key": "recipient_id", "on_forget": "delete"}},)

    recipient_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    institution_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("institutions.id", ondelete="CASCADE", name="fk_obligation_reminders_institution_id"),
            primary_key=True,
            autoincrement=False,
        )
    )
    rule_id: str = Field(sa_column=Column(String(24), primary_key=True))
    cycle: str = Field(sa_column=Column(String(16), primary_key=True))
    last_slot_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


STATES: Table = ObligationState.__table__  # type: ignore[attr-defined]
MARKS: Table = ObligationReminder.__table__  # type: ignore[attr-defined]
INSTITUTIONS: Table = Institution.__table__  # type: ignore[attr-defined]
OPERATORS: Table = InstitutionOperator.__table__  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class StateRow:
    done_at: dt.datetime | None
    done_by: int | None
    snoozed_until: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Mark:
    """A reminder the planner wants to send: ``recipient`` about an obligation, for ``slot_on``."""

    recipient_id: int
    institution_id: int
    rule_id: str
    cycle: str
    slot_on: dt.date

    @property
    def key(self) -> MarkKey:
        return (self.recipient_id, self.institution_id, self.rule_id, self.cycle)


@dataclasses.dataclass(frozen=True)
class CycleFilter:
    """Which (rule, cycle) pairs the planner looks at: calendar rules by pair, anchored rules whole."""

    pairs: frozenset[tuple[str, str]]
    whole_rules: frozenset[str]

    def condition(self, table: Table) -> Any:
        parts = [and_(table.c.rule_id == r, table.c.cycle == c) for r, c in sorted(self.pairs)]
        if self.whole_rules:
            parts.append(table.c.rule_id.in_(sorted(self.whole_rules)))
        return or_(*parts) if parts else false()


def _users() -> Table:
    # Imported here: bot.storage.models imports this module to register the tables.
    from bot.storage.models import User

    table: Table = User.__table__  # type: ignore[attr-defined]
    return table


_NURSERY_COLUMNS = (
    INSTITUTIONS.c.id,
    INSTITUTIONS.c.name,
    INSTITUTIONS.c.credit_code,
    INSTITUTIONS.c.district,
    INSTITUTIONS.c.legal_form,
    INSTITUTIONS.c.registered_on,
    INSTITUTIONS.c.filed_on,
    INSTITUTIONS.c.vacancies_updated_at,
    INSTITUTIONS.c.created_at,
)


def nursery_from(row: Any, tz: dt.tzinfo) -> Nursery:
    """A register row (an ``Institution`` or a selected row) as the rules see it."""
    return Nursery(
        id=row.id,
        name=row.name,
        credit_code=row.credit_code,
        district=row.district,
        legal_form=row.legal_form,
        registered_on=row.registered_on,
        filed_on=row.filed_on,
        vacancies_updated_at=row.vacancies_updated_at,
        listed_on=row.created_at.astimezone(tz).date() if row.created_at else None,
    )


class ObligationStore:
    """The repository behind the planner, /tasks and /overdue."""

    def __init__(self, db: Database, clock: Clock, tz: dt.tzinfo = dt.UTC) -> None:
        self._db = db
        self._clock = clock
        self._tz = tz

    # -- nurseries ------------------------------------------------------------------------------
    async def nurseries(
        self, *, operated_only: bool = False, credit_code: str | None = None, ids: Iterable[int] | None = None
    ) -> list[tuple[Nursery, tuple[int, ...]]]:
        """Nurseries with the operators who can be written to (those who have not blocked the bot)."""
        users = _users()
        stmt = select(*_NURSERY_COLUMNS).order_by(INSTITUTIONS.c.id)
        links = (
            select(OPERATORS.c.institution_id, OPERATORS.c.telegram_user_id)
            .select_from(OPERATORS.outerjoin(users, users.c.id == OPERATORS.c.telegram_user_id))
            .where(users.c.blocked_at.is_(None))
            .order_by(OPERATORS.c.id)
        )
        if operated_only:
            stmt = stmt.where(INSTITUTIONS.c.id.in_(links.with_only_columns(OPERATORS.c.institution_id)))
        if credit_code is not None:
            stmt = stmt.where(INSTITUTIONS.c.credit_code == credit_code)
            links = links.where(
                OPERATORS.c.institution_id.in_(
                    select(INSTITUTIONS.c.id).where(INSTITUTIONS.c.credit_code == credit_code)
                )
            )
        if ids is not None:
            wanted = sorted(set(ids))
            stmt = stmt.where(INSTITUTIONS.c.id.in_(wanted))
            links = links.where(OPERATORS.c.institution_id.in_(wanted))
        operators: dict[int, list[int]] = {}
        async with self._db.engine.connect() as conn:
            # ``all()`` rather than iterating the result: one call instead of one per row.
            for institution_id, user_id in (await conn.execute(links)).all():
                operators.setdefault(institution_id, []).append(user_id)
            rows = (await conn.execute(stmt)).all()
        tz = self._tz
        no_operators: tuple[int, ...] = ()
        # Positional access: this runs for every nursery of the city on every planning run.
        return [
            (
                Nursery(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8].astimezone(tz).date() if r[8] else None,
                ),
                tuple(operators[r[0]]) if r[0] in operators else no_operators,
            )
            for r in rows
        ]

    async def commission_staff(self, admin_ids: Iterable[int]) -> list[int]:
        """Who gets the weekly digest: the configured staff and consenting users with the commission role,
        less anyone who blocked the bot."""
        from bot.storage.models import Role

        users = _users()
        async with self._db.engine.connect() as conn:
            staff = set(
                (
                    await conn.execute(
                        select(users.c.id).where(
                            users.c.role == Role.COMMISSION.value, users.c.consent_at.is_not(None)
                        )
                    )
                ).scalars()
            )
            staff |= set(admin_ids)
            blocked = set(
                (await conn.execute(select(users.c.id).where(users.c.blocked_at.is_not(None)))).scalars()
            )
        return sorted(staff - blocked)

    # -- states ---------------------------------------------------------------------------------
    async def states(
        self, cycles: CycleFilter, *, institution_ids: Iterable[int] | None = None
    ) -> dict[ObligationKey, StateRow]:
        stmt = select(STATES).where(cycles.condition(STATES))
        if institution_ids is not None:
            stmt = stmt.where(STATES.c.institution_id.in_(sorted(set(institution_ids))))
        async with self._db.engine.connect() as conn:
            return {
                (r.institution_id, r.rule_id, r.cycle): StateRow(r.done_at, r.done_by, r.snoozed_until)
                for r in await conn.execute(stmt)
            }

    async def set_done(self, key: ObligationKey, user_id: int) -> bool:
        """Mark the obligation done; False when it already was."""
        now = self._clock.now()
        institution_id, rule_id, cycle = key
        async with self._db.engine.begin() as conn:
            stmt = dialect_insert(self._db, STATES).values(
                institution_id=institution_id,
                rule_id=rule_id,
                cycle=cycle,
                done_at=now,
                done_by=user_id,
                updated_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["institution_id", "rule_id", "cycle"],
                set_={"done_at": now, "done_by": user_id, "snoozed_until": None, "updated_at": now},
                where=STATES.c.done_at.is_(None),
            ).returning(STATES.c.id)
            return (await conn.execute(stmt)).first() is not None

    async def set_snoozed(self, key: ObligationKey, until: dt.datetime) -> None:
        now = self._clock.now()
        institution_id, rule_id, cycle = key
        async with self._db.engine.begin() as conn:
            stmt = dialect_insert(self._db, STATES).values(
                institution_id=institution_id,
                rule_id=rule_id,
                cycle=cycle,
                snoozed_until=until,
                updated_at=now,
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["institution_id", "rule_id", "cycle"],
                    set_={"snoozed_until": until, "updated_at": now},
                )
            )

    # -- reminder marks -------------------------------------------------------------------------
    async def marks(self, cycles: CycleFilter) -> dict[MarkKey, dt.date]:
        stmt = select(
            MARKS.c.recipient_id, MARKS.c.institution_id, MARKS.c.rule_id, MARKS.c.cycle, MARKS.c.last_slot_on
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt.where(cycles.condition(MARKS)))).all()
        return {(r[0], r[1], r[2], r[3]): r[4] for r in rows}

    async def advance_and_enqueue(
        self,
        wanted: Sequence[Mark],
        build: Callable[[list[Mark]], list[NewMessage]],
        outbox: Outbox,
    ) -> tuple[list[Mark], list[str]]:
        """Move each mark forward to its slot unless it is there already, and enqueue the messages
        ``build`` makes of the marks this call moved, in one transaction.

        The guarded upsert is what makes planning exactly-once: of two planners racing, each mark is
        moved by one, and a crash before the commit leaves neither the marks nor the messages.
        """
        if not wanted:
            return [], []
        now = self._clock.now()
        by_key = {m.key: m for m in wanted}
        moved: list[Mark] = []
        columns = ("recipient_id", "institution_id", "rule_id", "cycle", "last_slot_on", "updated_at")
        async with self._db.engine.begin() as conn:
            found = await insert_rows(
                conn,
                MARKS,
                columns,
                [
                    (m.recipient_id, m.institution_id, m.rule_id, m.cycle, m.slot_on, now)
                    for m in by_key.values()
                ],
                conflict=(
                    '("recipient_id", "institution_id", "rule_id", "cycle") DO UPDATE SET '
                    '"last_slot_on" = excluded."last_slot_on", "updated_at" = excluded."updated_at" '
                    f'WHERE "{MARKS.name}"."last_slot_on" < excluded."last_slot_on"'
                ),
                returning=columns[:4],
            )
            for row in found:
                moved.append(by_key[(row[0], row[1], row[2], row[3])])
            keys = await outbox.enqueue_many(build(moved), conn=conn)
        return moved, keys

    async def prune_marks(self) -> int:
        cutoff = self._clock.now() - MARK_RETENTION
        async with self._db.engine.begin() as conn:
            result = await conn.execute(delete(MARKS).where(MARKS.c.updated_at < cutoff))
            return result.rowcount or 0
