"""Reminder ledgers: one row per operator and nursery holding, per rule, the cycle and the latest reminder
day sent, in place of one row per operator and obligation. What was recorded is carried over, so nothing
is sent again after the upgrade.

Revision ID: 0006_reminder_ledgers
"""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.storage.types import UTCDateTime

revision = "0006_reminder_ledgers"
down_revision = "0005_broadcast"
branch_labels = None
depends_on = None

_BATCH = 1_000


# The ledger's text form at this revision: ";rule=cycle@YYYY-MM-DD;rule=cycle@YYYY-MM-DD;".
def _encode(entries: dict[str, tuple[str, str]]) -> str:
    text = "".join(f";{rule}={cycle}@{slot}" for rule, (cycle, slot) in sorted(entries.items()))
    return text + ";" if text else ""


def _decode(text: str) -> dict[str, tuple[str, str]]:
    found = {}
    for part in text.split(";"):
        rule, _, rest = part.partition("=")
        cycle, _, slot = rest.partition("@")
        if rule and slot:
            found[rule] = (cycle, slot)
    return found


def _ledgers_table() -> sa.Table:
    return op.create_table(
        "reminder_ledgers",
        sa.Column("recipient_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column(
            "institution_id",
            sa.Integer(),
            sa.ForeignKey("institutions.id", ondelete="CASCADE", name="fk_reminder_ledgers_institution_id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("sent", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def _reminders_table() -> sa.Table:
    return op.create_table(
        "obligation_reminders",
        sa.Column("recipient_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column(
            "institution_id",
            sa.Integer(),
            sa.ForeignKey(
                "institutions.id", ondelete="CASCADE", name="fk_obligation_reminders_institution_id"
            ),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("rule_id", sa.String(24), primary_key=True),
        sa.Column("cycle", sa.String(16), primary_key=True),
        sa.Column("last_slot_on", sa.Date(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def upgrade() -> None:
    ledgers = _ledgers_table()
    old = sa.table(
        "obligation_reminders",
        sa.column("recipient_id", sa.BigInteger()),
        sa.column("institution_id", sa.Integer()),
        sa.column("rule_id", sa.String()),
        sa.column("cycle", sa.String()),
        sa.column("last_slot_on", sa.Date()),
        sa.column("updated_at", UTCDateTime()),
    )
    # Per operator, nursery and rule the ledger keeps the newest cycle reminded (by its reminder day).
    grouped: dict[tuple[int, int], dict[str, Any]] = {}
    rows = op.get_bind().execute(sa.select(old).order_by(old.c.last_slot_on)).all()
    for recipient_id, institution_id, rule_id, cycle, last_slot_on, updated_at in rows:
        ledger = grouped.setdefault(
            (recipient_id, institution_id), {"sent": {}, "updated_at": dt.datetime.min.replace(tzinfo=dt.UTC)}
        )
        ledger["sent"][rule_id] = (cycle, last_slot_on.isoformat())
        ledger["updated_at"] = max(ledger["updated_at"], updated_at)
    values = [
        {
            "recipient_id": r,
            "institution_id": i,
            "sent": _encode(v["sent"]),
            "version": 1,
            "updated_at": v["updated_at"],
        }
        for (r, i), v in grouped.items()
    ]
    for start in range(0, len(values), _BATCH):
        op.bulk_insert(ledgers, values[start : start + _BATCH])
    op.drop_table("obligation_reminders")


def downgrade() -> None:
    reminders = _reminders_table()
    new = sa.table(
        "reminder_ledgers",
        sa.column("recipient_id", sa.BigInteger()),
        sa.column("institution_id", sa.Integer()),
        sa.column("sent", sa.Text()),
        sa.column("updated_at", UTCDateTime()),
    )
    values = [
        {
            "recipient_id": recipient_id,
            "institution_id": institution_id,
            "rule_id": rule_id,
            "cycle": cycle,
            "last_slot_on": dt.date.fromisoformat(slot),
            "updated_at": updated_at,
        }
        for recipient_id, institution_id, sent, updated_at in op.get_bind().execute(sa.select(new)).all()
        for rule_id, (cycle, slot) in _decode(sent).items()
    ]
    for start in range(0, len(values), _BATCH):
        op.bulk_insert(reminders, values[start : start + _BATCH])
    op.drop_table("reminder_ledgers")
