"""The nursery directory: institutions, claim codes and operator links.

Revision ID: 0003_directory
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.types import UTCDateTime

revision = "0003_directory"
down_revision = "0002_knowledge"
branch_labels = None
depends_on = None

_CLASSES = ("infant", "toddler", "older", "mixed")


def upgrade() -> None:
    class_columns = []
    class_checks = []
    for name in _CLASSES:
        class_columns += [
            sa.Column(f"{name}_capacity", sa.Integer(), nullable=False),
            sa.Column(f"{name}_free", sa.Integer(), nullable=True),
        ]
        class_checks += [
            sa.CheckConstraint(f"{name}_capacity >= 0", name=f"ck_institutions_{name}_capacity"),
            sa.CheckConstraint(
                f"{name}_free IS NULL OR ({name}_free >= 0 AND {name}_free <= {name}_capacity)",
                name=f"ck_institutions_{name}_free",
            ),
        ]
    op.create_table(
        "institutions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("legal_form", sa.String(32), nullable=True),
        sa.Column("inclusive", sa.Boolean(), nullable=False),
        sa.Column("district", sa.String(50), nullable=True),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        *class_columns,
        sa.Column("offers_full_day", sa.Boolean(), nullable=False),
        sa.Column("offers_half_day", sa.Boolean(), nullable=False),
        sa.Column("offers_hourly", sa.Boolean(), nullable=False),
        sa.Column("offers_temporary", sa.Boolean(), nullable=False),
        sa.Column("fee_min", sa.Integer(), nullable=True),
        sa.Column("fee_max", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(100), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("registration_authority", sa.String(100), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=True),
        sa.Column("vacancies_updated_at", UTCDateTime(), nullable=True),
        sa.Column("is_sample", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("credit_code", name="uq_institutions_credit_code"),
        sa.CheckConstraint("lat >= -90 AND lat <= 90", name="ck_institutions_lat"),
        sa.CheckConstraint("lon >= -180 AND lon <= 180", name="ck_institutions_lon"),
        sa.CheckConstraint(
            "fee_min IS NULL OR fee_max IS NULL OR fee_min <= fee_max", name="ck_institutions_fees"
        ),
        *class_checks,
    )
    # The nearby search filters on a lat/lon box: (lat, lon) serves it, lon alone serves narrow-longitude
    # boxes when the planner prefers them.
    op.create_index("ix_institutions_lat_lon", "institutions", ["lat", "lon"])
    op.create_index("ix_institutions_lon", "institutions", ["lon"])
    op.create_index("ix_institutions_district", "institutions", ["district"])

    op.create_table(
        "claim_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "institution_id",
            sa.Integer(),
            sa.ForeignKey("institutions.id", ondelete="CASCADE", name="fk_claim_codes_institution_id"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("code_hash", name="uq_claim_codes_code_hash"),
    )
    op.create_index("ix_claim_codes_institution_id", "claim_codes", ["institution_id"])

    op.create_table(
        "institution_operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "institution_id",
            sa.Integer(),
            sa.ForeignKey(
                "institutions.id", ondelete="CASCADE", name="fk_institution_operators_institution_id"
            ),
            nullable=False,
        ),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "claim_code_id",
            sa.Integer(),
            sa.ForeignKey(
                "claim_codes.id", ondelete="SET NULL", name="fk_institution_operators_claim_code_id"
            ),
            nullable=True,
        ),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("institution_id", "telegram_user_id", name="uq_institution_operators_pair"),
    )
    op.create_index(
        "ix_institution_operators_telegram_user_id", "institution_operators", ["telegram_user_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_institution_operators_telegram_user_id", table_name="institution_operators")
    op.drop_table("institution_operators")
    op.drop_index("ix_claim_codes_institution_id", table_name="claim_codes")
    op.drop_table("claim_codes")
    op.drop_index("ix_institutions_district", table_name="institutions")
    op.drop_index("ix_institutions_lon", table_name="institutions")
    op.drop_index("ix_institutions_lat_lon", table_name="institutions")
    op.drop_table("institutions")
