"""Nearby-search rules shared by the indexed search and its full-scan reference: the query and its
filters (age → classes, 普惠, service, vacancy), the ordering, and the result each nursery gives."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.directory.categories import AgeClass, ServiceType, classes_for_age, parse_service
from bot.directory.geo import haversine_m
from bot.directory.records import ClassPlaces, InstitutionRecord, NearbyResult

DEFAULT_MAX_RADIUS_M = 30_000.0
DEFAULT_INITIAL_RADIUS_M = 2_000.0
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class NearbyQuery:
    """Where to look from and what a nursery must offer to be listed.

    `age_months` keeps nurseries with a class (capacity > 0) for that age; with `with_vacancy` one of
    those classes must also have a free place (any class when no age is given). Free places that the
    register does not state count as none.
    """

    lat: float
    lon: float
    age_months: int | None = None
    inclusive_only: bool = False
    with_vacancy: bool = False
    service: ServiceType | None = None
    limit: int = 5
    offset: int = 0
    max_radius_m: float = DEFAULT_MAX_RADIUS_M

    def __post_init__(self) -> None:
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"coordinates out of range: {self.lat}, {self.lon}")
        if self.age_months is not None and self.age_months < 0:
            raise ValueError("age in months must not be negative")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1-{MAX_LIMIT}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")
        if self.max_radius_m <= 0:
            raise ValueError("max radius must be positive")

    @classmethod
    def build(
        cls,
        lat: float,
        lon: float,
        *,
        age_months: int | None = None,
        inclusive_only: bool = False,
        with_vacancy: bool = False,
        service: ServiceType | str | None = None,
        limit: int = 5,
        offset: int = 0,
        max_radius_m: float = DEFAULT_MAX_RADIUS_M,
    ) -> NearbyQuery:
        return cls(
            lat=lat,
            lon=lon,
            age_months=age_months,
            inclusive_only=inclusive_only,
            with_vacancy=with_vacancy,
            service=parse_service(service) if service is not None else None,
            limit=limit,
            offset=offset,
            max_radius_m=max_radius_m,
        )

    @property
    def classes(self) -> tuple[AgeClass, ...]:
        """The classes that matter: those taking the asked age, or every class."""
        if self.age_months is None:
            return tuple(AgeClass)
        return classes_for_age(self.age_months)

    @property
    def impossible(self) -> bool:
        """True for an age no class takes (under 6 months, 36 and over): nothing can match."""
        return self.age_months is not None and not self.classes

    @property
    def wanted(self) -> int:
        return self.offset + self.limit


def relevant_classes(record: InstitutionRecord, query: NearbyQuery) -> tuple[ClassPlaces, ...]:
    return tuple(
        ClassPlaces(c, record.capacity(c), record.free(c)) for c in query.classes if record.capacity(c) > 0
    )


def matches(record: InstitutionRecord, query: NearbyQuery) -> bool:
    """The filters, written plainly; the SQL in the repository must agree with this."""
    if query.inclusive_only and not record.inclusive:
        return False
    if query.service is not None and query.service not in record.services:
        return False
    classes = relevant_classes(record, query)
    if query.age_months is not None and not classes:
        return False
    return not (query.with_vacancy and not any((c.free or 0) > 0 for c in classes))


def make_result(
    institution_id: int, record: InstitutionRecord, distance_m: float, query: NearbyQuery, *, is_sample: bool
) -> NearbyResult:
    classes = relevant_classes(record, query)
    return NearbyResult(
        institution_id=institution_id,
        name=record.name,
        distance_m=distance_m,
        lat=record.lat,
        lon=record.lon,
        district=record.district,
        address=record.address,
        phone=record.phone,
        inclusive=record.inclusive,
        legal_form=record.legal_form,
        services=record.services,
        fee_min=record.fee_min,
        fee_max=record.fee_max,
        filed=record.filed_on is not None,
        filed_on=record.filed_on,
        classes=classes,
        free_places=sum(c.free or 0 for c in classes),
        vacancies_updated_at=record.vacancies_updated_at,
        is_sample=is_sample,
    )


def rank(query: NearbyQuery, hits: Iterable[tuple[float, int]]) -> list[tuple[float, int]]:
    """The requested page of (distance, id) within the radius, nearest first, ties by id."""
    within = sorted(h for h in hits if h[0] <= query.max_radius_m)
    return within[query.offset : query.offset + query.limit]


def nearby_reference(
    query: NearbyQuery, records: Iterable[tuple[int, InstitutionRecord]]
) -> list[NearbyResult]:
    """Full scan: every record filtered and measured. The oracle for tests and the benchmark baseline."""
    by_id: dict[int, InstitutionRecord] = {}
    hits: list[tuple[float, int]] = []
    if query.impossible:
        return []
    for institution_id, record in records:
        if not matches(record, query):
            continue
        by_id[institution_id] = record
        hits.append((haversine_m(query.lat, query.lon, record.lat, record.lon), institution_id))
    return [
        make_result(i, by_id[i], d, query, is_sample=bool(by_id[i].is_sample)) for d, i in rank(query, hits)
    ]
