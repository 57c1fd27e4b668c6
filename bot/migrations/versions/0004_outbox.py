"""The outbox of proactive messages, and the state of compliance obligations and their reminders.

Revision ID: 0004_outbox
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.types import UTCDateTime

revision = "0004_outbox"
down_revision = "0003_directory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("template", sa.String(64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("reply_markup", sa.JSON(), nullable=True),
        sa.Column("parse_mode", sa.String(16), nullable=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    # The dispatcher's claim reads (state, priority, next_attempt_at) in that order.
    op.create_index("ix_outbox_due", "outbox", ["state", "priority", "next_attempt_at"])
    op.create_index("ix_outbox_recipient", "outbox", ["recipient_id", "state"])
    op.create_index("ix_outbox_campaign", "outbox", ["campaign_id", "state"])

    op.create_table(
        "obligation_states",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "institution_id",
            sa.Integer(),
            sa.ForeignKey("institutions.id", ondelete="CASCADE", name="fk_obligation_states_institution_id"),
            nullable=False,
        ),
        sa.Column("rule_id", sa.String(24), nullable=False),
        sa.Column("cycle", sa.String(16), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.BigInteger(), nullable=True),
        sa.Column("snoozed_until", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("institution_id", "rule_id", "cycle", name="uq_obligation_states_obligation"),
    )

    op.create_table(
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


def downgrade() -> None:
    op.drop_table("obligation_reminders")
    op.drop_table("obligation_states")
    op.drop_index("ix_outbox_campaign", table_name="outbox")
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
