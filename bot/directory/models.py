"""Tables of the nursery directory: the register of institutions (托育机构), the one-time claim codes
staff hand out, and the links between a nursery and the Telegram accounts that operate it."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from bot.directory.categories import AgeClass, LegalForm, ServiceType
from bot.directory.records import ClassPlaces, InstitutionRecord
from bot.storage.types import UTCDateTime


def _utc_column(*, nullable: bool) -> Any:
    return Column(UTCDateTime(), nullable=nullable)


SERVICE_COLUMNS: dict[ServiceType, str] = {
    ServiceType.FULL_DAY: "offers_full_day",
    ServiceType.HALF_DAY: "offers_half_day",
    ServiceType.HOURLY: "offers_hourly",
    ServiceType.TEMPORARY: "offers_temporary",
}


def _class_checks() -> list[CheckConstraint]:
    checks = []
    for c in AgeClass:
        checks.append(CheckConstraint(f"{c.value}_capacity >= 0", name=f"ck_institutions_{c.value}_capacity"))
        checks.append(
            CheckConstraint(
                f"{c.value}_free IS NULL OR ({c.value}_free >= 0 AND {c.value}_free <= {c.value}_capacity)",
                name=f"ck_institutions_{c.value}_free",
            )
        )
    return checks


class Institution(SQLModel, table=True):
    """A nursery (托育机构) in the register, keyed by its unified social credit code.

    Coordinates are WGS-84. Free places (空位) are None until someone states them; `filed_on` is the
    filing (备案) date, None while not filed.
    """

    __tablename__ = "institutions"
    __table_args__ = (
        Index("ix_institutions_lat_lon", "lat", "lon"),
        Index("ix_institutions_lon", "lon"),
        Index("ix_institutions_district", "district"),
        UniqueConstraint("credit_code", name="uq_institutions_credit_code"),
        CheckConstraint("lat >= -90 AND lat <= 90", name="ck_institutions_lat"),
        CheckConstraint("lon >= -180 AND lon <= 180", name="ck_institutions_lon"),
        CheckConstraint(
            "fee_min IS NULL OR fee_max IS NULL OR fee_min <= fee_max", name="ck_institutions_fees"
        ),
        *_class_checks(),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(200), nullable=False)
    # name folded for the filing lookup's LIKE search (see bot.directory.names.name_key)
    name_key: str = Field(sa_type=String(200), nullable=False)
    credit_code: str = Field(sa_type=String(18), nullable=False)
    legal_form: str | None = Field(default=None, sa_type=String(32))
    inclusive: bool = Field(default=False, nullable=False)
    district: str | None = Field(default=None, sa_type=String(50))
    address: str | None = Field(default=None, sa_type=String(500))
    lat: float = Field(sa_type=Double(), nullable=False)
    lon: float = Field(sa_type=Double(), nullable=False)
    infant_capacity: int = Field(default=0, nullable=False)
    infant_free: int | None = Field(default=None)
    toddler_capacity: int = Field(default=0, nullable=False)
    toddler_free: int | None = Field(default=None)
    older_capacity: int = Field(default=0, nullable=False)
    older_free: int | None = Field(default=None)
    mixed_capacity: int = Field(default=0, nullable=False)
    mixed_free: int | None = Field(default=None)
    offers_full_day: bool = Field(default=False, nullable=False)
    offers_half_day: bool = Field(default=False, nullable=False)
    offers_hourly: bool = Field(default=False, nullable=False)
    offers_temporary: bool = Field(default=False, nullable=False)
    fee_min: int | None = Field(default=None)
    fee_max: int | None = Field(default=None)
    phone: str | None = Field(default=None, sa_type=String(100))
    registered_on: date | None = Field(default=None, sa_type=Date())
    registration_authority: str | None = Field(default=None, sa_type=String(100))
    filed_on: date | None = Field(default=None, sa_type=Date())
    vacancies_updated_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    is_sample: bool = Field(default=False, nullable=False)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))

    @property
    def filed(self) -> bool:
        return self.filed_on is not None

    @property
    def services(self) -> frozenset[ServiceType]:
        return frozenset(s for s, column in SERVICE_COLUMNS.items() if getattr(self, column))

    @property
    def legal_form_enum(self) -> LegalForm | None:
        return LegalForm(self.legal_form) if self.legal_form else None

    def places(self, age_class: AgeClass) -> ClassPlaces:
        return ClassPlaces(
            age_class, getattr(self, f"{age_class.value}_capacity"), getattr(self, f"{age_class.value}_free")
        )

    @property
    def classes(self) -> tuple[ClassPlaces, ...]:
        """Places of every class the nursery runs (capacity > 0)."""
        return tuple(p for p in (self.places(c) for c in AgeClass) if p.capacity > 0)

    def to_record(self) -> InstitutionRecord:
        return InstitutionRecord(
            name=self.name,
            credit_code=self.credit_code,
            lat=self.lat,
            lon=self.lon,
            district=self.district,
            address=self.address,
            inclusive=self.inclusive,
            legal_form=self.legal_form_enum,
            infant_capacity=self.infant_capacity,
            infant_free=self.infant_free,
            toddler_capacity=self.toddler_capacity,
            toddler_free=self.toddler_free,
            older_capacity=self.older_capacity,
            older_free=self.older_free,
            mixed_capacity=self.mixed_capacity,
            mixed_free=self.mixed_free,
            services=self.services,
            fee_min=self.fee_min,
            fee_max=self.fee_max,
            phone=self.phone,
            registered_on=self.registered_on,
            registration_authority=self.registration_authority,
            filed_on=self.filed_on,
            is_sample=self.is_sample,
            vacancies_updated_at=self.vacancies_updated_at,
        )


class ClaimCode(SQLModel, table=True):
    """A one-time code (认领码) with which an operator claims a nursery; only its SHA-256 digest is kept."""

    __tablename__ = "claim_codes"
    __table_args__ = (
        Index("ix_claim_codes_institution_id", "institution_id"),
        UniqueConstraint("code_hash", name="uq_claim_codes_code_hash"),
        # /forget keeps the code's history but drops who used it
        {"info": {"personal_key": "used_by", "on_forget": "anonymise"}},
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("institutions.id", ondelete="CASCADE", name="fk_claim_codes_institution_id"),
            nullable=False,
        )
    )
    code_hash: str = Field(sa_type=String(64), nullable=False)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    used_by: int | None = Field(default=None, sa_type=BigInteger())
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class InstitutionOperator(SQLModel, table=True):
    """A Telegram account allowed to act for a nursery (keep its free places current), made by a claim."""

    __tablename__ = "institution_operators"
    __table_args__ = (
        UniqueConstraint("institution_id", "telegram_user_id", name="uq_institution_operators_pair"),
        Index("ix_institution_operators_telegram_user_id", "telegram_user_id"),
        {"info": {"personal_key": "telegram_user_id", "on_forget": "delete"}},
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("institutions.id", ondelete="CASCADE", name="fk_institution_operators_institution_id"),
            nullable=False,
        )
    )
    telegram_user_id: int = Field(sa_type=BigInteger(), nullable=False)
    claim_code_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("claim_codes.id", ondelete="SET NULL", name="fk_institution_operators_claim_code_id"),
            nullable=True,
        ),
    )
    claimed_at: datetime = Field(sa_column=_utc_column(nullable=False))
