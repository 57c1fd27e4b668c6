"""The outbox: every message the bot sends on its own is first a row here, under a unique key (what, to
whom); the repository enqueues idempotently, claims due rows for the dispatcher and records outcomes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from bot.clock import Clock, utcnow
from bot.storage.db import Database
from bot.storage.types import UTCDateTime


class OutboxState(enum.StrEnum):
    """Where a row is in its life: only ``pending`` rows are ever claimed, so ``sent`` is final."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


# Lower goes first: a reminder due now should not wait behind a million-row broadcast.
PRIORITY_REMINDER = 10
PRIORITY_DIGEST = 20
PRIORITY_DEFAULT = 50
PRIORITY_BROADCAST = 100

# The kind of commission campaign messages: the only ones sent with allow_paid_broadcast.
BROADCAST_KIND = "broadcast"

MAX_KEY_LENGTH = 200
MAX_ERROR_LENGTH = 200
# Bound parameters per INSERT ... VALUES statement: well under SQLite's limit (32,766).
PARAMS_PER_STATEMENT = 12_000
# From this many rows on, PostgreSQL bulk inserts go through COPY and a temporary table; fewer are not
# worth a temporary table (and the catalog churn of one per call).
COPY_FROM = 500
# insert_rows statements by (dialect, table, columns, conflict, returning, rows).
_INSERTS: dict[tuple[Any, ...], str] = {}


class OutboxMessage(SQLModel, table=True):
    """A message to send without being asked (reminder, digest, broadcast, stage message)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_key"),
        Index("ix_outbox_due", "state", "priority", "next_attempt_at"),
        Index("ix_outbox_recipient", "recipient_id", "state"),
        Index("ix_outbox_campaign", "campaign_id", "state"),
        {"info": {"personal_key": "recipient_id", "on_forget": "delete"}},
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    key: str = Field(sa_column=Column(String(MAX_KEY_LENGTH), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    recipient_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(default=OutboxState.PENDING.value, sa_column=Column(String(16), nullable=False))
    priority: int = Field(default=PRIORITY_DEFAULT, sa_column=Column(Integer, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    template: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reply_markup: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    parse_mode: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    campaign_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    claimed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    claimed_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(String(MAX_ERROR_LENGTH), nullable=True))
    sent_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class NewMessage:
    """A message to enqueue: literal ``text``, or a ``template`` with ``params`` rendered at send time in
    the recipient's language. ``not_before`` holds it back (quiet hours, a snooze)."""

    key: str
    recipient_id: int
    kind: str
    text: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    campaign_id: int | None = None
    priority: int = PRIORITY_DEFAULT
    not_before: dt.datetime | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.template is None):
            raise ValueError("an outbox message needs exactly one of text and template")
        if not self.key or len(self.key) > MAX_KEY_LENGTH:
            raise ValueError(f"an outbox key must be 1-{MAX_KEY_LENGTH} characters")
        if self.not_before is not None and self.not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")


@dataclasses.dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as its callers see it."""

    id: int
    key: str
    kind: str
    recipient_id: int
    state: OutboxState
    priority: int
    attempts: int
    next_attempt_at: dt.datetime
    text: str | None
    template: str | None
    params: dict[str, Any] | None
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    campaign_id: int | None
    telegram_message_id: int | None
    claimed_at: dt.datetime | None
    claimed_by: str | None
    last_error: str | None
    sent_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> OutboxEntry:
        # A plain dict: looking up twenty columns by name through the row's mapping costs more.
        m = row._asdict()
        return cls(
            id=m["id"],
            key=m["key"],
            kind=m["kind"],
            recipient_id=m["recipient_id"],
            state=OutboxState(m["state"]),
            priority=m["priority"],
            attempts=m["attempts"],
            next_attempt_at=m["next_attempt_at"],
            text=m["text"],
            template=m["template"],
            params=m["params"],
            reply_markup=m["reply_markup"],
            parse_mode=m["parse_mode"],
            campaign_id=m["campaign_id"],
            telegram_message_id=m["telegram_message_id"],
            claimed_at=m["claimed_at"],
            claimed_by=m["claimed_by"],
            last_error=m["last_error"],
            sent_at=m["sent_at"],
            created_at=m["created_at"],
        )


def dialect_insert(db: Database, table: Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the database's dialect (SQLite or PostgreSQL)."""
    return (postgresql.insert if db.is_postgres else sqlite.insert)(table)


async def insert_rows(
    conn: Any,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: str,
    returning: Sequence[str],
) -> list[Any]:
    """``INSERT ... ON CONFLICT <conflict> RETURNING <returning>`` of ``rows`` (values in ``columns``
    order), inside the caller's transaction.

    Planning writes tens of thousands of rows at once; through a Core ``insert`` SQLAlchemy builds and
    type-processes a parameter set per row, which cost more than the database's own work. Here each
    column's bind processor (the column type's own, so values are stored exactly as Core stores them) runs
    once per distinct value. One ``VALUES (...), (...)`` statement carries hundreds of rows; on PostgreSQL,
    from COPY_FROM rows on, they are copied (``COPY``, asyncpg's binary protocol) into a temporary table
    and inserted from there, about twice as fast as statements of thousands of parameters.
    """
    if not rows:
        return []
    dialect = conn.dialect
    processed = _processed_rows(dialect, table, columns, rows)
    names = ", ".join(f'"{c}"' for c in columns)
    tail = f" ON CONFLICT {conflict} RETURNING " + ", ".join(f'"{c}"' for c in returning)
    if dialect.name == "postgresql" and len(rows) >= COPY_FROM:
        return await _copy_and_insert(conn, table, columns, processed, tail)
    if dialect.paramstyle == "numeric_dollar":
        holders = "${}".format
    elif dialect.paramstyle == "qmark":
        holders = "?".format
    else:  # pragma: no cover - the project runs on SQLite (aiosqlite) and PostgreSQL (asyncpg) only
        raise NotImplementedError(f"insert_rows: {dialect.name} ({dialect.paramstyle})")
    width = len(columns)
    found: list[Any] = []
    for chunk in chunked(processed, max(1, PARAMS_PER_STATEMENT // width)):
        shape = (dialect.name, table.name, tuple(columns), conflict, tuple(returning), len(chunk))
        sql = _INSERTS.get(shape)
        if sql is None:
            numbers = iter(range(1, width * len(chunk) + 1))
            values = ", ".join(
                "(" + ", ".join(holders(next(numbers)) for _c in range(width)) + ")" for _r in chunk
            )
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES {values}{tail}'
            if len(_INSERTS) > 64:
                _INSERTS.clear()
            _INSERTS[shape] = sql
        # Straight to the driver: SQLAlchemy would parse and compile a statement of thousands of
        # parameters again for every new chunk size.
        found.extend(await conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(chunk))))
    return found


async def _copy_and_insert(
    conn: Any, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], tail: str
) -> list[Any]:
    names = ", ".join(f'"{c}"' for c in columns)
    staging = f"_insert_{table.name}"
    # Through SQLAlchemy first: that is what opens the caller's transaction on the driver's connection,
    # so the staging table lives and dies with it.
    await conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ON COMMIT DROP AS '
        f'SELECT {names} FROM "{table.name}" WITH NO DATA'
    )
    driver = (await conn.get_raw_connection()).driver_connection
    await driver.copy_records_to_table(staging, records=rows, columns=list(columns))
    found = list(
        await conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}"{tail}'
        )
    )
    await conn.exec_driver_sql(f'TRUNCATE "{staging}"')
    return found


def _processed_rows(
    dialect: Any, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """``rows`` with each value passed through its column's bind processor, memoised per distinct value;
    column by column, so a column without a processor costs nothing."""
    processed = []
    for name, values in zip(columns, zip(*rows, strict=True), strict=True):
        column_type = table.c[name].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            processed.append(values)
        elif isinstance(column_type, JSON):
            # Dicts are not hashable and rarely repeat: each processed. A JSON None is stored as null.
            null = processor(None)
            processed.append(tuple(null if v is None else processor(v) for v in values))
        else:
            memo = {None: None}
            for v in values:
                if v not in memo:
                    memo[v] = processor(v)
            processed.append(tuple(map(memo.__getitem__, values)))
    return list(zip(*processed, strict=True))


def chunked(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_INSERT_COLUMNS = (
    "key",
    "kind",
    "recipient_id",
    "state",
    "priority",
    "attempts",
    "next_attempt_at",
    "text",
    "template",
    "params",
    "reply_markup",
    "parse_mode",
    "campaign_id",
    "created_at",
    "updated_at",
)


class Outbox:
    """The outbox repository. Every state change is one guarded statement, so a crash between two of
    them leaves a row that the lease sends back to ``pending``, never one that is lost."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # -- enqueueing ----------------------------------------------------------------------------
    async def enqueue(self, message: NewMessage) -> bool:
        """Insert the message unless its key exists; True when this call inserted it."""
        return bool(await self.enqueue_many([message]))

    async def enqueue_many(self, messages: Sequence[NewMessage], *, conn: Any = None) -> list[str]:
        """Insert-or-ignore by key; return the keys this call inserted.

        ``conn`` lets a planner insert in the same transaction as its own bookkeeping.
        """
        if not messages:
            return []
        if conn is None:
            async with self._db.engine.begin() as own:
                return await self._insert(own, messages)
        return await self._insert(conn, messages)

    async def _insert(self, conn: Any, messages: Sequence[NewMessage]) -> list[str]:
        now = self._clock.now()
        pending = OutboxState.PENDING.value
        unique = {m.key: m for m in messages}
        rows = [
            (
                m.key,
                m.kind,
                m.recipient_id,
                pending,
                m.priority,
                0,
                max(now, m.not_before) if m.not_before else now,
                m.text,
                m.template,
                m.params,
                m.reply_markup,
                m.parse_mode,
                m.campaign_id,
                now,
                now,
            )
            for m in unique.values()
        ]
        found = await insert_rows(
            conn, OUTBOX, _INSERT_COLUMNS, rows, conflict='("key") DO NOTHING', returning=("key",)
        )
        return [row[0] for row in found]

    # -- the dispatcher's side -----------------------------------------------------------------
    async def claim(
        self, worker: str, limit: int, *, kind: str | None = None, other_than: str | None = None
    ) -> list[OutboxEntry]:
        """Move up to ``limit`` due rows to ``sending`` for ``worker`` and return them, most urgent first;
        only rows of ``kind``, or only rows of any kind but ``other_than``, when given.

        On PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers
        take disjoint rows; SQLite serialises writers, and the ``state`` guard does the rest.
        """
        now = self._clock.now()
        t = OUTBOX
        due = (
            select(t.c.id)
            .where(t.c.state == OutboxState.PENDING.value, t.c.next_attempt_at <= now)
            .order_by(t.c.priority, t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        if kind is not None:
            due = due.where(t.c.kind == kind)
        if other_than is not None:
            due = due.where(t.c.kind != other_than)
        if self._db.is_postgres:
            # A materialised CTE runs once. As ``IN (subquery)`` PostgreSQL may rescan the locking
            # subquery, which then skips the rows this very statement updated and claims more than asked.
            picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            condition = t.c.id.in_(select(picked.c.id))
        else:
            condition = t.c.id.in_(due.scalar_subquery())
        stmt = (
            update(t)
            .where(condition, t.c.state == OutboxState.PENDING.value)
            .values(
                state=OutboxState.SENDING.value,
                claimed_at=now,
                claimed_by=worker,
                attempts=t.c.attempts + 1,
                updated_at=now,
            )
            .returning(*t.c)
        )
        async with self._db.engine.begin() as conn:
            rows = [OutboxEntry.from_row(r) for r in await conn.execute(stmt)]
        rows.sort(key=lambda e: (e.priority, e.next_attempt_at, e.id))
        return rows

    async def release_expired(self, lease: dt.timedelta, *, max_attempts: int | None = None) -> int:
        """Send rows stuck in ``sending`` longer than ``lease`` (their dispatcher died) back to pending.

        Such a row may have reached the recipient before the crash; it is sent at most once more. A row
        that has used up its attempts fails instead, so a message that kills the process cannot loop.
        """
        now = self._clock.now()
        t = OUTBOX
        stale = (t.c.state == OutboxState.SENDING.value, t.c.claimed_at < now - lease)
        async with self._db.engine.begin() as conn:
            failed = 0
            if max_attempts is not None:
                result = await conn.execute(
                    update(t)
                    .where(*stale, t.c.attempts >= max_attempts)
                    .values(state=OutboxState.FAILED.value, last_error="lease expired", updated_at=now)
                )
                failed = result.rowcount or 0
            result = await conn.execute(
                update(t)
                .where(*stale)
                .values(
                    state=OutboxState.PENDING.value,
                    claimed_at=None,
                    claimed_by=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            return failed + (result.rowcount or 0)

    async def mark_sent(self, entry_id: int, message_id: int | None) -> bool:
        """Record delivery. Whoever holds the row, a delivered message is never sent again."""
        return bool(await self.mark_sent_many([(entry_id, message_id)]))

    async def mark_sent_many(self, delivered: Sequence[tuple[int, int | None]]) -> int:
        """Record several deliveries (row id, channel message id) in one transaction."""
        if not delivered:
            return 0
        now = self._clock.now()
        t = OUTBOX
        stmt = (
            update(t)
            .where(t.c.id == bindparam("row_id"), t.c.state != OutboxState.SENT.value)
            .values(
                state=OutboxState.SENT.value,
                telegram_message_id=bindparam("message_id"),
                sent_at=now,
                last_error=None,
                updated_at=now,
            )
        )
        async with self._db.engine.begin() as conn:
            result = await conn.execute(stmt, [{"row_id": i, "message_id": m} for i, m in delivered])
            return result.rowcount or 0

    async def mark_retry(self, entry_id: int, worker: str, at: dt.datetime, error: str) -> bool:
        """Back to pending, to be tried again at ``at``."""
        return await self._settle(
            entry_id, worker, state=OutboxState.PENDING, next_attempt_at=at, error=error, release=True
        )

    async def mark_failed(self, entry_id: int, worker: str, error: str) -> bool:
        return await self._settle(entry_id, worker, state=OutboxState.FAILED, error=error)

    async def mark_cancelled(self, entry_id: int, worker: str, reason: str) -> bool:
        return await self._settle(entry_id, worker, state=OutboxState.CANCELLED, error=reason)

    async def defer(self, entry_ids: Sequence[int], worker: str, until: dt.datetime) -> int:
        """Hand claimed rows back untried (a 429 pause, the tick's time is up): the attempt is not counted."""
        if not entry_ids:
            return 0
        now = self._clock.now()
        t = OUTBOX
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(t)
                .where(
                    t.c.id.in_(list(entry_ids)),
                    t.c.state == OutboxState.SENDING.value,
                    t.c.claimed_by == worker,
                )
                .values(
                    state=OutboxState.PENDING.value,
                    attempts=case((t.c.attempts > 0, t.c.attempts - 1), else_=0),
                    next_attempt_at=until,
                    claimed_at=None,
                    claimed_by=None,
                    updated_at=now,
                )
            )
            return result.rowcount or 0

    async def mark_blocked(self, recipient_id: int) -> int:
        """The recipient blocked the bot: note it on the user (which keeps them out of every audience until
        they write again; their own subscription choice is left as it was), and close every message still
        waiting for them. Returns how many outbox rows were closed."""
        # Imported here: bot.storage.models imports this module to register the table.
        from bot.storage.models import User

        now = self._clock.now()
        users: Table = User.__table__  # type: ignore[attr-defined]
        t = OUTBOX
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == recipient_id).values(blocked_at=now, updated_at=now)
            )
            result = await conn.execute(
                update(t)
                .where(
                    t.c.recipient_id == recipient_id,
                    t.c.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]),
                )
                .values(state=OutboxState.BLOCKED.value, last_error="403 blocked", updated_at=now)
            )
            return result.rowcount or 0

    async def _settle(
        self,
        entry_id: int,
        worker: str,
        *,
        state: OutboxState,
        error: str,
        next_attempt_at: dt.datetime | None = None,
        release: bool = False,
    ) -> bool:
        now = self._clock.now()
        t = OUTBOX
        values: dict[str, Any] = {
            "state": state.value,
            "last_error": error[:MAX_ERROR_LENGTH],
            "updated_at": now,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if release:
            values.update(claimed_at=None, claimed_by=None)
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(t)
                .where(t.c.id == entry_id, t.c.state == OutboxState.SENDING.value, t.c.claimed_by == worker)
                .values(values)
            )
            return bool(result.rowcount)

    # -- cancelling ----------------------------------------------------------------------------
    async def cancel(
        self,
        *,
        keys: Sequence[str] = (),
        key_prefix: str | None = None,
        recipient_id: int | None = None,
        campaign_id: int | None = None,
    ) -> int:
        """Cancel pending rows matching every given condition; rows already sending or sent stay."""
        if not keys and key_prefix is None and recipient_id is None and campaign_id is None:
            raise ValueError("cancel needs a condition")
        t = OUTBOX
        conditions = [t.c.state == OutboxState.PENDING.value]
        if keys:
            conditions.append(t.c.key.in_(list(keys)))
        if key_prefix is not None:
            conditions.append(t.c.key.startswith(key_prefix, autoescape=True))
        if recipient_id is not None:
            conditions.append(t.c.recipient_id == recipient_id)
        if campaign_id is not None:
            conditions.append(t.c.campaign_id == campaign_id)
        now = self._clock.now()
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(t).where(*conditions).values(state=OutboxState.CANCELLED.value, updated_at=now)
            )
            return result.rowcount or 0

    # -- reading -------------------------------------------------------------------------------
    async def get(self, key: str) -> OutboxEntry | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(OUTBOX).where(OUTBOX.c.key == key))).first()
            return OutboxEntry.from_row(row) if row else None

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self._db.engine.connect() as conn:
            for chunk in chunked(list(keys), 1000):
                found.update(
                    (await conn.execute(select(OUTBOX.c.key).where(OUTBOX.c.key.in_(chunk)))).scalars()
                )
        return found

    async def for_recipient(
        self, recipient_id: int, *, states: Iterable[OutboxState] | None = None
    ) -> list[OutboxEntry]:
        stmt = select(OUTBOX).where(OUTBOX.c.recipient_id == recipient_id)
        if states is not None:
            stmt = stmt.where(OUTBOX.c.state.in_([s.value for s in states]))
        async with self._db.engine.connect() as conn:
            return [OutboxEntry.from_row(r) for r in await conn.execute(stmt.order_by(OUTBOX.c.id))]

    async def entries(self, *, kind: str | None = None, campaign_id: int | None = None) -> list[OutboxEntry]:
        stmt = select(OUTBOX)
        if kind is not None:
            stmt = stmt.where(OUTBOX.c.kind == kind)
        if campaign_id is not None:
            stmt = stmt.where(OUTBOX.c.campaign_id == campaign_id)
        async with self._db.engine.connect() as conn:
            return [OutboxEntry.from_row(r) for r in await conn.execute(stmt.order_by(OUTBOX.c.id))]

    async def counts(
        self, *, campaign_id: int | None = None, kind: str | None = None
    ) -> dict[OutboxState, int]:
        """Rows per state (every state present, zero when none): progress of a campaign or of everything."""
        stmt = select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)
        if campaign_id is not None:
            stmt = stmt.where(OUTBOX.c.campaign_id == campaign_id)
        if kind is not None:
            stmt = stmt.where(OUTBOX.c.kind == kind)
        counts = dict.fromkeys(OutboxState, 0)
        async with self._db.engine.connect() as conn:
            for state, count in await conn.execute(stmt):
                counts[OutboxState(state)] = int(count)
        return counts

    async def next_due_at(self) -> dt.datetime | None:
        """When the earliest pending row comes due (None when nothing is pending)."""
        stmt = select(func.min(OUTBOX.c.next_attempt_at)).where(OUTBOX.c.state == OutboxState.PENDING.value)
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(stmt)).scalar()
        if value is None:
            return None
        # An aggregate loses the column type on SQLite; read it back as UTC.
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
