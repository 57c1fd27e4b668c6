"""Benchmark of the nursery directory: nearby-search latency (indexed search beside the full scan, same
database) at 1,000 / 10,000 / 100,000 nurseries, and the CSV import rate; prints, asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.directory import credit_code as cc  # noqa: E402
from bot.directory import repository  # noqa: E402
from bot.directory.categories import ServiceType  # noqa: E402
from bot.directory.csv_io import export_header, record_cells  # noqa: E402
from bot.directory.importer import import_csv  # noqa: E402
from bot.directory.records import InstitutionRecord, NearbyResult  # noqa: E402
from bot.storage import migrate  # noqa: E402
from bot.storage.db import Database  # noqa: E402

# Rough centres of large Chinese cities (WGS-84): the register is dense around them, thin elsewhere.
CITIES = [
    (39.90, 116.40),
    (31.23, 121.47),
    (23.13, 113.26),
    (22.54, 114.06),
    (30.57, 104.07),
    (29.56, 106.55),
    (30.27, 120.16),
    (32.06, 118.80),
    (30.59, 114.31),
    (34.34, 108.94),
    (36.07, 120.38),
    (38.04, 114.51),
    (34.75, 113.62),
    (28.23, 112.94),
    (26.07, 119.30),
    (24.48, 118.09),
    (25.04, 102.71),
    (26.65, 106.63),
    (22.82, 108.37),
    (20.04, 110.34),
    (41.80, 123.43),
    (43.82, 125.32),
    (45.80, 126.53),
    (36.65, 117.12),
    (31.82, 117.23),
    (28.68, 115.86),
    (37.87, 112.55),
    (40.84, 111.75),
    (36.06, 103.83),
    (43.83, 87.62),
    (38.49, 106.23),
    (36.62, 101.78),
    (29.65, 91.14),
    (39.08, 117.20),
    (31.30, 120.58),
    (29.87, 121.54),
]
CHINA_BOX = (21.0, 47.0, 98.0, 126.0)


def make_register(rng: random.Random, n: int, start: int) -> list[InstitutionRecord]:
    records = []
    for i in range(start, start + n):
        if rng.random() < 0.05:
            lat, lon = rng.uniform(CHINA_BOX[0], CHINA_BOX[1]), rng.uniform(CHINA_BOX[2], CHINA_BOX[3])
        else:
            c_lat, c_lon = rng.choice(CITIES)
            lat, lon = rng.gauss(c_lat, 0.12), rng.gauss(c_lon, 0.12)
        record = InstitutionRecord(
            name=f"基准托育园{i}",
            credit_code=cc.generate("91", "110101", rng),
            lat=round(lat, 6),
            lon=round(lon, 6),
            district="基准区",
            inclusive=rng.random() < 0.5,
            services=frozenset(s for s in ServiceType if rng.random() < 0.5)
            or frozenset({ServiceType.FULL_DAY}),
            fee_min=2000,
            fee_max=4000,
        )
        for c in ("infant", "toddler", "older", "mixed"):
            capacity = rng.choice((0, 0, 10, 15, 20))
            setattr(record, f"{c}_capacity", capacity)
            if capacity:
                setattr(record, f"{c}_free", rng.randint(0, min(capacity, 3)))
        records.append(record)
    return records


def write_csv(path: Path, records: list[InstitutionRecord]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(export_header(chinese=False))
        for record in records:
            writer.writerow(record_cells(record, chinese=False))


def make_queries(rng: random.Random, count: int) -> list[dict[str, Any]]:
    queries = []
    for _ in range(count):
        if rng.random() < 0.8:
            c_lat, c_lon = rng.choice(CITIES)
            lat, lon = rng.gauss(c_lat, 0.08), rng.gauss(c_lon, 0.08)
        else:
            lat, lon = rng.uniform(CHINA_BOX[0], CHINA_BOX[1]), rng.uniform(CHINA_BOX[2], CHINA_BOX[3])
        queries.append(
            {
                "lat": lat,
                "lon": lon,
                "age_months": rng.choice((None, 8, 14, 20, 26, 30)),
                "inclusive_only": rng.random() < 0.3,
                "with_vacancy": rng.random() < 0.6,
                "service": rng.choice((None, None, ServiceType.HALF_DAY, ServiceType.HOURLY)),
                "limit": 5,
            }
        )
    return queries


async def timed(
    run: Callable[..., Awaitable[list[NearbyResult]]], db: Database, queries: list[dict[str, Any]]
) -> tuple[list[float], list[list[NearbyResult]]]:
    times, answers = [], []
    for q in queries:
        args = dict(q)
        lat, lon = args.pop("lat"), args.pop("lon")
        t0 = time.perf_counter()
        answers.append(await run(db, lat, lon, **args))
        times.append((time.perf_counter() - t0) * 1000)
    return times, answers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def prepare(url: str) -> Database:
    db = Database(url)
    await migrate.upgrade(db)
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("TRUNCATE institution_operators, claim_codes, institutions RESTART IDENTITY CASCADE")
            )
    return db


async def main() -> None:
    parser = argparse.ArgumentParser(
        description="Nearby-search and import benchmark. Without --database-url it uses a SQLite file in a "
        "temporary directory; with a PostgreSQL URL it migrates that database and empties the directory's "
        "tables first."
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200, help="indexed-search queries per size")
    parser.add_argument("--scan-queries", type=int, default=40, help="full-scan queries per size")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        db = await prepare(url)
        print(f"database: {db.engine.dialect.name}")
        rng = random.Random(1123)
        loaded = 0
        print(
            f"{'nurseries':>10} {'import rows/s':>14} {'indexed p50':>12} {'p99':>8} {'full scan p50':>14} {'p99':>8} {'speed-up':>9} {'agree':>7}"
        )
        for size in sizes:
            batch = make_register(rng, size - loaded, loaded)
            source = Path(tmp) / f"register-{size}.csv"
            write_csv(source, batch)
            report = await import_csv(db, source)
            loaded = size
            queries = make_queries(random.Random(size), args.queries)
            await timed(repository.nearby, db, queries[:10])  # warm caches and the planner
            fast_ms, fast_answers = await timed(repository.nearby, db, queries)
            scan_ms, scan_answers = await timed(repository.nearby_full_scan, db, queries[: args.scan_queries])
            agree = sum(a == b for a, b in zip(fast_answers, scan_answers, strict=False))
            speedup = statistics.median(scan_ms) / statistics.median(fast_ms)
            print(
                f"{size:>10,} {report.rows_per_second:>14,.0f} {percentile(fast_ms, 50):>10.2f}ms "
                f"{percentile(fast_ms, 99):>6.2f}ms {percentile(scan_ms, 50):>12.1f}ms {percentile(scan_ms, 99):>6.1f}ms "
                f"{speedup:>8.0f}x {agree:>3}/{len(scan_answers)}"
            )
            print(
                f"{'':>10} import of {report.read:,} rows: {report.inserted:,} inserted, {report.updated:,} updated, "
                f"{report.rejected} rejected in {report.seconds:.2f}s"
            )
        report = await import_csv(db, source)
        print(
            f"re-import of the last {report.read:,} rows (all updates): {report.rows_per_second:,.0f} rows/s "
            f"({report.updated:,} updated in {report.seconds:.2f}s)"
        )
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
