"""Storage of compliance obligations: their state per cycle (done, snoozed), the latest reminder day each
operator was sent of each (a ledger per operator and nursery), and the reads the planner needs (nurseries with operators, commission staff).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    false,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.types import NullType
from sqlmodel import Field, SQLModel

from bot.clock import Clock, utcnow
from bot.directory.models import Institution, InstitutionOperator
from bot.storage.db import Database
from bot.storage.types import UTCDateTime
from schedules.outbox import NewMessage, Outbox, dialect_insert, insert_rows
from schedules.rules import Nursery

# Ledgers nobody has touched for this long are dropped: no rule looks back further than a year.
LEDGER_RETENTION = dt.timedelta(days=400)

ObligationKey = tuple[int, str, str]  # (institution id, rule id, cycle key)
LedgerKey = tuple[int, int]  # (recipient id, institution id)


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


class ReminderLedger(SQLModel, table=True):
    """What one operator has been reminded of about one nursery: for each rule, the cycle and the latest
    reminder day sent. One row per operator and nursery, rewritten under a version guard: what makes
    planning idempotent, and exactly-once when two planners race."""

    __tablename__ = "reminder_ledgers"
    __table_args__ = ({"info": {"personal_key": "recipient_id", "on_forget": "delete"}},)

    recipient_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    institution_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("institutions.id", ondelete="CASCADE", name="fk_reminder_ledgers_institution_id"),
            primary_key=True,
            autoincrement=False,
        )
    )
    # Per rule, the cycle and the ISO date of the latest reminder day sent: ";annual_report=2027@2027-06-16;"
    # (see Ledger). Plain text rather than JSON: every planning run reads every ledger, and a substring
    # test answers the common question, "was this reminder sent?", without decoding anything.
    sent: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


STATES: Table = ObligationState.__table__  # type: ignore[attr-defined]
LEDGERS: Table = ReminderLedger.__table__  # type: ignore[attr-defined]
INSTITUTIONS: Table = Institution.__table__  # type: ignore[attr-defined]
OPERATORS: Table = InstitutionOperator.__table__  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class StateRow:
    done_at: dt.datetime | None
    done_by: int | None
    snoozed_until: dt.datetime | None


class Ledger:
    """A reminder ledger as read: its version and, per rule, the cycle and latest reminder day sent.

    The text form is ``;rule=cycle@YYYY-MM-DD;rule=cycle@YYYY-MM-DD;`` (rule ids and cycle keys hold none
    of ``;=@``). ISO dates compare correctly as strings.
    """

    __slots__ = ("_entries", "text", "version")

    def __init__(self, version: int, text: str) -> None:
        self.version = version
        self.text = text
        self._entries: dict[str, tuple[str, str]] | None = None

    @classmethod
    def of(cls, version: int, entries: Mapping[str, tuple[str, str]]) -> Ledger:
        text = "".join([f";{rule}={cycle}@{slot}" for rule, (cycle, slot) in entries.items()])
        return cls(version, text + ";" if text else "")

    def entries(self) -> dict[str, tuple[str, str]]:
        """{rule id: (cycle key, ISO date of the latest reminder day sent)}."""
        if self._entries is None:
            found = {}
            for part in self.text.split(";"):
                rule, _, rest = part.partition("=")
                cycle, _, slot = rest.partition("@")
                if rule and slot:
                    found[rule] = (cycle, slot)
            self._entries = found
        return self._entries

    def covers(self, rule_id: str, cycle: str, slot: str) -> bool:
        """Whether the reminder of ``slot`` (an ISO date) in ``cycle``, or a later one, went out already."""
        if f";{rule_id}={cycle}@{slot};" in self.text:
            return True  # the usual answer, found without decoding the ledger
        if f";{rule_id}=" not in self.text:
            return False
        entry = self.entries().get(rule_id)
        return entry is not None and entry[0] == cycle and entry[1] >= slot

    def advanced(self, reminded: Iterable[tuple[str, str, str]]) -> Ledger:
        """The next version, with the reminders ``(rule id, cycle, slot)`` recorded."""
        entries = dict(self.entries())
        for rule_id, cycle, slot in reminded:
            entries[rule_id] = (cycle, slot)
        return Ledger.of(self.version + 1, entries)


EMPTY_LEDGER = Ledger(0, "")


@dataclasses.dataclass(frozen=True)
class LedgerUpdate:
    """What a planning run wants to record for one operator and nursery: the ledger with the new reminder
    days, as the next version of what it read. ``payload`` is the caller's (what the reminders say)."""

    recipient_id: int
    institution_id: int
    ledger: Ledger
    payload: Any = None

    @property
    def key(self) -> LedgerKey:
        return (self.recipient_id, self.institution_id)


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
)
# Dates and times come raw from the driver and go through their type's own result processor once per
# distinct value: a register has a few thousand distinct dates, and parsing each of its rows' dates
# (strings, on SQLite) was most of the cost of reading it.
_NURSERY_DATES = (
    INSTITUTIONS.c.registered_on,
    INSTITUTIONS.c.filed_on,
    INSTITUTIONS.c.vacancies_updated_at,
    INSTITUTIONS.c.created_at,
)


def _memoised(column: Any, dialect: Any) -> Callable[[Any], Any]:
    processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
    if processor is None:
        return lambda value: value
    memo: dict[Any, Any] = {None: None}

    def process(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            result = memo[value] = processor(value)
            return result

    return process


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
        self, *, operated_only: bool = False, credit_code: str | None = None
    ) -> list[tuple[Nursery, tuple[int, ...]]]:
        """Nurseries with the operators who can be written to (those who have not blocked the bot)."""
        users = _users()
        raw = [type_coerce(c, NullType()).label(c.name) for c in _NURSERY_DATES]
        stmt = select(*_NURSERY_COLUMNS, *raw).order_by(INSTITUTIONS.c.id)
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
        operators: dict[int, list[int]] = {}
        async with self._db.engine.connect() as conn:
            # ``all()`` rather than iterating the result: one call instead of one per row.
            for institution_id, user_id in (await conn.execute(links)).all():
                operators.setdefault(institution_id, []).append(user_id)
            rows = (await conn.execute(stmt)).all()
            registered_on, filed_on, vacancies_updated_at, created_at = (
                _memoised(c, conn.dialect) for c in _NURSERY_DATES
            )
        tz = self._tz
        # Imports stamp whole batches alike: each listing moment is converted to a local date once.
        listed: dict[Any, dt.date | None] = {None: None}
        no_operators: tuple[int, ...] = ()
        found = []
        # Positional access: this runs for every nursery of the city on every planning run.
        for r in rows:
            if (listed_on := listed.get(r[8], dt.date.min)) is dt.date.min:
                listed_on = listed[r[8]] = created_at(r[8]).astimezone(tz).date()
            nursery = Nursery(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                registered_on(r[5]),
                filed_on(r[6]),
                vacancies_updated_at(r[7]),
                listed_on,
            )
            found.append((nursery, tuple(operators[r[0]]) if r[0] in operators else no_operators))
        return found

    async def commission_staff(self, admin_ids: Iterable[int]) -> list[int]:
        """Who gets the weekly digest: the configured staff and consenting users with the commission role,
        less anyone who blocked the bot."""
        from bot.storage.models import Role

        users = _users()
        admins = sorted(set(admin_ids))
        commission = and_(users.c.role == Role.COMMISSION.value, users.c.consent_at.is_not(None))
        stmt = select(users.c.id, users.c.blocked_at).where(or_(commission, users.c.id.in_(admins)))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        # An administrator who never started the bot has no row, and is still written to.
        blocked = {user_id for user_id, blocked_at in rows if blocked_at is not None}
        return sorted(({user_id for user_id, _at in rows} | set(admins)) - blocked)

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

    # -- reminder ledgers -----------------------------------------------------------------------
    async def ledgers(self, *, institution_ids: Iterable[int] | None = None) -> dict[LedgerKey, Ledger]:
        stmt = select(LEDGERS.c.recipient_id, LEDGERS.c.institution_id, LEDGERS.c.version, LEDGERS.c.sent)
        if institution_ids is not None:
            stmt = stmt.where(LEDGERS.c.institution_id.in_(sorted(set(institution_ids))))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {(r[0], r[1]): Ledger(r[2], r[3]) for r in rows}

    async def advance_and_enqueue(
        self,
        updates: Sequence[LedgerUpdate],
        build: Callable[[list[LedgerUpdate]], list[NewMessage]],
        outbox: Outbox,
    ) -> tuple[list[LedgerUpdate], list[str]]:
        """Write each ledger update unless someone else wrote that ledger since it was read, and enqueue
        the messages ``build`` makes of the updates this call wrote, in one transaction.

        The version guard is what makes planning exactly-once: of two planners racing, each ledger is
        moved by one, and a crash before the commit leaves neither the ledgers nor the messages.
        """
        if not updates:
            return [], []
        now = self._clock.now()
        by_key = {u.key: u for u in updates}
        async with self._db.engine.begin() as conn:
            found = await insert_rows(
                conn,
                LEDGERS,
                ("recipient_id", "institution_id", "sent", "version", "updated_at"),
                [
                    (u.recipient_id, u.institution_id, u.ledger.text, u.ledger.version, now)
                    for u in by_key.values()
                ],
                conflict=(
                    '("recipient_id", "institution_id") DO UPDATE SET "sent" = excluded."sent", '
                    '"version" = excluded."version", "updated_at" = excluded."updated_at" '
                    f'WHERE "{LEDGERS.name}"."version" = excluded."version" - 1'
                ),
                returning=("recipient_id", "institution_id"),
            )
            moved = [by_key[(row[0], row[1])] for row in found]
            keys = await outbox.enqueue_many(build(moved), conn=conn)
        return moved, keys

    async def prune_ledgers(self) -> int:
        cutoff = self._clock.now() - LEDGER_RETENTION
        async with self._db.engine.begin() as conn:
            result = await conn.execute(delete(LEDGERS).where(LEDGERS.c.updated_at < cutoff))
            return result.rowcount or 0
