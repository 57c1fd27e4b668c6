"""Plain records the directory core hands to its callers (handlers, CLI, tests): a nursery as the
register describes it, nearby-search results, filing-lookup answers, issued claim codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.directory.categories import AgeClass, LegalForm, ServiceType


@dataclass(slots=True)
class InstitutionRecord:
    """One nursery (托育机构) as a register row gives it, coordinates already in WGS-84.

    Free places are None when the register does not state them (unknown is not the same as full).
    """

    name: str
    credit_code: str
    lat: float
    lon: float
    district: str | None = None
    address: str | None = None
    inclusive: bool = False  # 普惠
    legal_form: LegalForm | None = None
    infant_capacity: int = 0
    infant_free: int | None = None
    toddler_capacity: int = 0
    toddler_free: int | None = None
    older_capacity: int = 0
    older_free: int | None = None
    mixed_capacity: int = 0
    mixed_free: int | None = None
    services: frozenset[ServiceType] = frozenset()
    fee_min: int | None = None  # yuan a month
    fee_max: int | None = None
    phone: str | None = None
    registered_on: date | None = None
    registration_authority: str | None = None
    filed_on: date | None = None  # 备案; None: not filed
    is_sample: bool | None = None
    vacancies_updated_at: datetime | None = None

    def capacity(self, age_class: AgeClass) -> int:
        value: int = getattr(self, f"{age_class.value}_capacity")
        return value

    def free(self, age_class: AgeClass) -> int | None:
        value: int | None = getattr(self, f"{age_class.value}_free")
        return value

    @property
    def total_capacity(self) -> int:
        return sum(self.capacity(c) for c in AgeClass)


@dataclass(frozen=True, slots=True)
class ClassPlaces:
    """Places in one age class of a nursery: its capacity (托位) and free places (空位, None if unknown)."""

    age_class: AgeClass
    capacity: int
    free: int | None


@dataclass(frozen=True, slots=True)
class NearbyResult:
    """A nursery found near a point, with its great-circle distance and the places that matter.

    `classes` lists the classes with capacity that take the asked age (all of them when no age was
    given); `free_places` adds up their known free places.
    """

    institution_id: int
    name: str
    distance_m: float
    lat: float
    lon: float
    district: str | None
    address: str | None
    phone: str | None
    inclusive: bool
    legal_form: LegalForm | None
    services: frozenset[ServiceType]
    fee_min: int | None
    fee_max: int | None
    filed: bool
    classes: tuple[ClassPlaces, ...]
    free_places: int
    vacancies_updated_at: datetime | None
    is_sample: bool
    filed_on: date | None = None  # 备案 date


@dataclass(frozen=True, slots=True)
class FilingStatus:
    """Whether a nursery has filed (备案) with the health commission, as the register records it."""

    institution_id: int
    name: str
    credit_code: str
    district: str | None
    address: str | None
    legal_form: LegalForm | None
    inclusive: bool
    filed_on: date | None
    is_sample: bool
    score: float = 0.0  # how well the name matched, 0-1

    @property
    def filed(self) -> bool:
        return self.filed_on is not None


@dataclass(frozen=True, slots=True)
class IssuedClaimCode:
    """A one-time code just issued for a nursery; the plain code is never stored, so show it now."""

    institution_id: int
    name: str
    credit_code: str
    code: str  # as printed: XXXX-XXXX
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a value was refused: a stable `code` for translation, the column, and an English message."""

    code: str
    message: str
    column: str | None = None


@dataclass(slots=True)
class RejectedRow:
    """A register row refused at import, numbered as a spreadsheet numbers rows (header = row 1)."""

    line: int
    physical_line: int  # where the row starts in the text file; differs after cells with line breaks
    cells: list[str]
    reasons: list[Reason] = field(default_factory=list)

    @property
    def reason_text(self) -> str:
        return "; ".join(r.message for r in self.reasons)


@dataclass(slots=True)
class ImportReport:
    """What one import did: counts, speed, refused rows and file-level warnings."""

    source: str
    encoding: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    blank_rows: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    rejects: list[RejectedRow] = field(default_factory=list)
    reject_path: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class DistrictFigures:
    """Register totals for one district (所在区; None for rows without one)."""

    district: str | None
    institutions: int
    inclusive_institutions: int  # 普惠
    places: int  # 托位, all classes
    inclusive_places: int
    filed_institutions: int  # 备案
    free_places: int  # 空位 as last reported
