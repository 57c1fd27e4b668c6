"""Nearby search: the indexed, widening search against the full scan and a pure reference on random
registers (same top k, same order, distances within 1% of the geodesic), and each filter on its own."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from bot.directory import credit_code as cc
from bot.directory import repository
from bot.directory.categories import AgeClass, ServiceType
from bot.directory.records import InstitutionRecord
from bot.directory.search import NearbyQuery, nearby_reference
from bot.storage.db import Database
from tests.test_directory_geo import vincenty_m

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CENTRES = [(24.48, 118.09), (24.51, 118.15), (24.73, 118.15), (24.62, 118.24)]


def random_register(rng: random.Random, n: int) -> list[InstitutionRecord]:
    records = []
    for i in range(n):
        if rng.random() < 0.1:
            lat, lon = rng.uniform(23.5, 25.5), rng.uniform(117.0, 119.5)  # scattered, some beyond 30 km
        else:
            c_lat, c_lon = rng.choice(CENTRES)
            lat, lon = rng.gauss(c_lat, 0.03), rng.gauss(c_lon, 0.03)
        record = InstitutionRecord(
            name=f"n{i}",
            credit_code=cc.generate("91", "350200", rng),
            lat=round(lat, 6),
            lon=round(lon, 6),
            inclusive=rng.random() < 0.5,
            services=frozenset(s for s in ServiceType if rng.random() < 0.5),
        )
        for c in AgeClass:
            capacity = rng.choice((0, 0, 10, 15, 20))
            setattr(record, f"{c.value}_capacity", capacity)
            if capacity and rng.random() < 0.8:
                setattr(record, f"{c.value}_free", rng.randint(0, min(capacity, 3)))
        records.append(record)
    return records


def random_filters(rng: random.Random) -> dict[str, object]:
    return {
        "age_months": rng.choice((None, None, 3, 6, 11, 12, 18, 20, 24, 30, 35, 36)),
        "inclusive_only": rng.random() < 0.3,
        "with_vacancy": rng.random() < 0.4,
        "service": rng.choice((None, None, *ServiceType)),
        "limit": rng.choice((1, 5, 10)),
        "offset": rng.choice((0, 0, 3)),
    }


async def test_indexed_search_matches_full_scan_and_reference(db: Database) -> None:
    rng = random.Random(20261123)
    records = random_register(rng, 600)
    inserted, _ = await repository.import_rows(db, records, now=NOW)
    assert inserted == 600
    indexed = list(enumerate(records, start=1))
    compared = 0
    for _ in range(150):
        c_lat, c_lon = rng.choice(CENTRES)
        lat, lon = c_lat + rng.uniform(-0.15, 0.15), c_lon + rng.uniform(-0.15, 0.15)
        filters = random_filters(rng)
        fast = await repository.nearby(db, lat, lon, **filters)  # type: ignore[arg-type]
        slow = await repository.nearby_full_scan(db, lat, lon, **filters)  # type: ignore[arg-type]
        pure = nearby_reference(NearbyQuery.build(lat, lon, **filters), indexed)  # type: ignore[arg-type]
        assert [r.name for r in fast] == [r.name for r in slow] == [r.name for r in pure]
        assert fast == slow
        for got, want in zip(fast, pure, strict=True):
            assert got.distance_m == want.distance_m
            truth = vincenty_m(lat, lon, got.lat, got.lon)
            assert abs(got.distance_m - truth) <= 0.01 * truth
            assert got.distance_m <= 30_000
        distances = [r.distance_m for r in fast]
        assert distances == sorted(distances)
        compared += len(fast)
    assert compared > 300  # the filters left plenty to compare


async def test_small_initial_radius_widens_to_the_true_nearest(db: Database) -> None:
    rng = random.Random(5)
    records = random_register(rng, 300)
    await repository.import_rows(db, records, now=NOW)
    for _ in range(30):
        lat, lon = rng.uniform(24.3, 24.9), rng.uniform(117.9, 118.4)
        fast = await repository.nearby(db, lat, lon, limit=7, initial_radius_m=50)
        slow = await repository.nearby_full_scan(db, lat, lon, limit=7)
        assert fast == slow


def _nursery(name: str, lat: float, lon: float, **classes: object) -> InstitutionRecord:
    rng = random.Random(name)
    record = InstitutionRecord(name=name, credit_code=cc.generate("91", "350203", rng), lat=lat, lon=lon)
    for key, value in classes.items():
        setattr(record, key, value)
    return record


async def test_ties_break_by_id_and_pages_do_not_overlap(db: Database) -> None:
    same = [_nursery(f"t{i}", 24.48, 118.09, older_capacity=10) for i in range(12)]
    await repository.import_rows(db, same, now=NOW)
    results = await repository.nearby(db, 24.49, 118.09, limit=12)
    ids = [r.institution_id for r in results]
    assert ids == sorted(ids) and len(set(r.distance_m for r in results)) == 1
    pages = [await repository.nearby(db, 24.49, 118.09, limit=5, offset=o) for o in (0, 5, 10)]
    assert [r.institution_id for page in pages for r in page] == ids


async def test_age_and_vacancy_filters(db: Database) -> None:
    await repository.import_rows(
        db,
        [
            _nursery("infants-free", 24.480, 118.090, infant_capacity=10, infant_free=2),
            _nursery("infants-full", 24.481, 118.090, infant_capacity=10, infant_free=0),
            _nursery("toddlers-unknown", 24.482, 118.090, toddler_capacity=15),
            _nursery("mixed-free", 24.483, 118.090, mixed_capacity=18, mixed_free=3),
            _nursery(
                "older-free",
                24.484,
                118.090,
                older_capacity=20,
                older_free=5,
                toddler_capacity=15,
                toddler_free=0,
            ),
        ],
        now=NOW,
    )

    async def names(**filters: object) -> list[str]:
        return [r.name for r in await repository.nearby(db, 24.48, 118.09, limit=10, **filters)]  # type: ignore[arg-type]

    assert await names() == ["infants-free", "infants-full", "toddlers-unknown", "mixed-free", "older-free"]
    assert await names(with_vacancy=True) == ["infants-free", "mixed-free", "older-free"]
    assert await names(age_months=8) == ["infants-free", "infants-full"]
    assert await names(age_months=8, with_vacancy=True) == ["infants-free"]
    # the mixed class takes children from 18 months
    assert await names(age_months=17) == ["toddlers-unknown", "older-free"]
    assert await names(age_months=18) == ["toddlers-unknown", "mixed-free", "older-free"]
    assert await names(age_months=20, with_vacancy=True) == ["mixed-free"]
    assert await names(age_months=30, with_vacancy=True) == ["mixed-free", "older-free"]
    assert await names(age_months=3) == [] and await names(age_months=36) == []

    (result,) = await repository.nearby(db, 24.484, 118.09, limit=1, age_months=20)
    assert result.name == "older-free"
    assert [(c.age_class, c.free) for c in result.classes] == [(AgeClass.TODDLER, 0)]
    assert result.free_places == 0
    (result,) = await repository.nearby(db, 24.484, 118.09, limit=1)
    assert result.free_places == 5 and len(result.classes) == 2


async def test_inclusive_service_and_radius(db: Database) -> None:
    a = _nursery(
        "普惠全日",
        24.480,
        118.090,
        older_capacity=10,
        inclusive=True,
        services=frozenset({ServiceType.FULL_DAY}),
    )
    b = _nursery("民营计时", 24.481, 118.090, older_capacity=10, services=frozenset({ServiceType.HOURLY}))
    far = _nursery("远处", 24.480 + 40_000 / 111_195, 118.090, older_capacity=10)
    await repository.import_rows(db, [a, b, far], now=NOW)

    async def names(**filters: object) -> list[str]:
        return [r.name for r in await repository.nearby(db, 24.48, 118.09, limit=10, **filters)]  # type: ignore[arg-type]

    assert await names() == ["普惠全日", "民营计时"]
    assert await names(inclusive_only=True) == ["普惠全日"]
    assert await names(service=ServiceType.HOURLY) == ["民营计时"]
    assert await names(service="全日托") == ["普惠全日"]
    assert await names(max_radius_m=50_000) == ["普惠全日", "民营计时", "远处"]
    (result,) = await repository.nearby(db, 24.48, 118.09, limit=1)
    assert result.inclusive and result.distance_m == 0.0 and not result.is_sample


async def test_nothing_nearby_is_an_empty_list(db: Database) -> None:
    assert await repository.nearby(db, 24.48, 118.09) == []
    await repository.import_rows(db, [_nursery("x", 24.48, 118.09, older_capacity=1)], now=NOW)
    assert await repository.nearby(db, 39.9, 116.4) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 1000},
        {"offset": -1},
        {"age_months": -3},
        {"max_radius_m": 0},
        {"service": "夜托"},
    ],
)
async def test_bad_queries_are_refused(db: Database, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        await repository.nearby(db, 24.48, 118.09, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        await repository.nearby(db, 91, 118.09)


async def test_results_on_the_sample(db: Database) -> None:
    await repository.load_sample(db, now=NOW)
    # Xiamen University, 思明区
    results = await repository.nearby(db, 24.437, 118.097, age_months=26, with_vacancy=True, limit=5)
    assert results and all(r.is_sample for r in results)
    assert all(r.free_places > 0 for r in results)
    assert results[0].distance_m < 5_000
    assert all(math.isfinite(r.distance_m) for r in results)
