"""Importing the register into the database: upsert by credit code, rejects with line numbers, what a
re-import keeps, encodings and datums end to end, export round trip, and the bundled sample."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.directory import credit_code as cc
from bot.directory import geo, repository
from bot.directory.categories import AgeClass, LegalForm
from bot.directory.csv_io import CsvFormatError
from bot.directory.importer import export_csv, import_csv
from bot.storage.db import Database

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
_rng = random.Random(3)
CODES = [cc.generate("91", "350206", _rng) for _ in range(10)]

FIELDS = [
    "name",
    "credit_code",
    "district",
    "lat",
    "lon",
    "inclusive",
    "legal_form",
    "toddler_capacity",
    "toddler_free",
    "older_capacity",
    "older_free",
    "filed_on",
]


def make_csv(
    path: Path, rows: list[dict[str, str]], *, fields: list[str] = FIELDS, encoding: str = "utf-8"
) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def nursery(n: int, **over: str) -> dict[str, str]:
    values = {
        "name": f"湖里测试托育园{n}",
        "credit_code": CODES[n],
        "district": "湖里区",
        "lat": f"{24.50 + n * 0.001:.4f}",
        "lon": "118.13",
        "inclusive": "是",
        "legal_form": "企业",
        "toddler_capacity": "20",
        "toddler_free": "2",
        "older_capacity": "30",
        "older_free": "4",
        "filed_on": "2024-05-01",
    }
    values.update(over)
    return values


async def test_import_inserts_then_updates(db: Database, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "register.csv", [nursery(0), nursery(1)])
    report = await import_csv(db, source, now=NOW)
    assert (report.read, report.inserted, report.updated, report.rejected) == (2, 2, 0, 0)
    assert report.rows_per_second > 0 and report.reject_path is None

    source = make_csv(tmp_path / "register.csv", [nursery(0, name="新名字托育园", filed_on=""), nursery(2)])
    report = await import_csv(db, source, now=NOW + timedelta(days=1))
    assert (report.inserted, report.updated) == (1, 1)
    first = await repository.get_by_credit_code(db, CODES[0])
    assert first is not None
    assert first.name == "新名字托育园" and first.filed_on is None and not first.filed
    assert first.created_at == NOW and first.updated_at == NOW + timedelta(days=1)
    assert first.name_key == "新名字托育园"
    assert len(await repository.export_rows(db)) == 3


async def test_bad_rows_are_reported_and_written_to_a_reject_file(db: Database, tmp_path: Path) -> None:
    rows = [
        nursery(0),
        nursery(1, credit_code="91350100M000100Y44"),
        nursery(2, toddler_free="21"),
        nursery(3, lat="118.13", lon="24.5"),
        nursery(4, legal_form="合伙"),
        nursery(5, credit_code=CODES[0]),
        nursery(6),
    ]
    source = make_csv(tmp_path / "register.csv", rows)
    report = await import_csv(db, source, now=NOW)
    assert (report.read, report.inserted, report.rejected) == (7, 2, 5)
    assert [(r.line, r.reasons[0].code) for r in report.rejects] == [
        (3, "credit_code_check_digit"),
        (4, "free_exceeds_capacity"),
        (5, "coordinates_out_of_range"),
        (6, "unknown_legal_form"),
        (7, "duplicate_credit_code"),
    ]
    assert report.reject_path == str(tmp_path / "register.rejects.csv")
    rejected = list(csv.reader(io.StringIO((tmp_path / "register.rejects.csv").read_text("utf-8-sig"))))
    assert rejected[0] == [*FIELDS, "reason"]
    assert [r[1] for r in rejected[1:]] == ["91350100M000100Y44", CODES[2], CODES[3], CODES[4], CODES[0]]
    assert "already on line 2" in rejected[-1][-1]

    other = tmp_path / "elsewhere.csv"
    report = await import_csv(db, source, reject_path=other, now=NOW)
    assert report.reject_path == str(other) and other.exists()
    assert (report.inserted, report.updated) == (0, 2)


async def test_reimport_keeps_what_the_file_does_not_say(db: Database, tmp_path: Path) -> None:
    await import_csv(db, make_csv(tmp_path / "a.csv", [nursery(0)]), now=NOW)
    institution = await repository.get_by_credit_code(db, CODES[0])
    assert institution is not None and institution.id is not None
    assert institution.vacancies_updated_at == NOW
    institution_id = institution.id

    # a register without free-place columns leaves them alone
    fields = [f for f in FIELDS if not f.endswith("_free")]
    later = NOW + timedelta(days=2)
    await import_csv(
        db, make_csv(tmp_path / "b.csv", [nursery(0, older_capacity="35")], fields=fields), now=later
    )
    institution = await repository.get(db, institution_id)
    assert institution is not None and institution.id is not None
    assert (institution.toddler_free, institution.older_free, institution.older_capacity) == (2, 4, 35)
    assert institution.vacancies_updated_at == NOW

    # a blank free cell keeps the figure, cut down to a smaller capacity
    await import_csv(
        db,
        make_csv(tmp_path / "c.csv", [nursery(0, toddler_capacity="1", toddler_free="", older_free="")]),
        now=later,
    )
    institution = await repository.get(db, institution_id)
    assert institution is not None
    assert (institution.toddler_capacity, institution.toddler_free, institution.older_free) == (1, 1, 4)
    assert institution.vacancies_updated_at == NOW

    # a stated figure replaces it and moves the stamp
    await import_csv(
        db, make_csv(tmp_path / "d.csv", [nursery(0, toddler_capacity="20", toddler_free="7")]), now=later
    )
    institution = await repository.get(db, institution_id)
    assert institution is not None
    assert institution.toddler_free == 7 and institution.vacancies_updated_at == later


async def test_gbk_chinese_headers_and_gcj02(db: Database, tmp_path: Path) -> None:
    g_lat, g_lon = geo.wgs84_to_gcj02(24.5, 118.13)
    text = (
        "机构名称,统一社会信用代码,所在区,纬度,经度,普惠,性质,托大班托位,托大班空位\r\n"
        f"鹭岛托育园,{CODES[0]},湖里区,{g_lat:.7f},{g_lon:.7f},否,家庭托育点,5,1\r\n"
    )
    source = tmp_path / "gbk.csv"
    source.write_bytes(text.encode("gbk"))
    report = await import_csv(db, source, coord_system="GCJ02", now=NOW)
    assert report.encoding == "gbk" and report.inserted == 1
    institution = await repository.get_by_credit_code(db, CODES[0])
    assert institution is not None
    assert institution.name == "鹭岛托育园" and institution.legal_form_enum is LegalForm.HOME_BASED
    assert geo.haversine_m(institution.lat, institution.lon, 24.5, 118.13) < 0.05
    assert [p.age_class for p in institution.classes] == [AgeClass.OLDER]


async def test_unreadable_file_raises(db: Database, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("name,lat,lon\nx,1,2\n", encoding="utf-8")
    with pytest.raises(CsvFormatError, match="credit_code"):
        await import_csv(db, source, now=NOW)


async def test_export_round_trip(db: Database, tmp_path: Path) -> None:
    await import_csv(db, make_csv(tmp_path / "a.csv", [nursery(i) for i in range(5)]), now=NOW)
    before = await repository.export_rows(db)
    for chinese in (False, True):
        out = tmp_path / f"export-{chinese}.csv"
        assert await export_csv(db, out, chinese_headers=chinese) == 5
        report = await import_csv(db, out, now=NOW)
        assert (report.inserted, report.updated, report.rejected, report.warnings) == (0, 5, 0, [])
        assert await repository.export_rows(db) == before


async def test_sample_loads_through_the_import(db: Database) -> None:
    report = await repository.load_sample(db, now=NOW)
    assert (report.read, report.inserted, report.rejected) == (80, 80, 0)
    rows = await repository.export_rows(db)
    assert all(r.is_sample for r in rows)
    figures = {f.district: f for f in await repository.district_figures(db)}
    assert {d: (f.inclusive_institutions, f.inclusive_places) for d, f in figures.items()} == {
        "思明区": (8, 750),
        "湖里区": (13, 832),
        "海沧区": (3, 300),
        "集美区": (8, 755),
        "同安区": (10, 885),
        "翔安区": (13, 830),
    }
    assert sum(f.institutions for f in figures.values()) == 80
    assert sum(f.filed_institutions for f in figures.values()) == sum(1 for r in rows if r.filed_on)
    again = await repository.load_sample(db, now=NOW)
    assert (again.inserted, again.updated) == (0, 80)
    assert await repository.export_rows(db, include_sample=False) == []
    assert await repository.delete_sample(db) == 80
    assert await repository.export_rows(db) == []


async def test_import_rows_refuses_duplicate_codes(db: Database) -> None:
    from bot.directory.records import InstitutionRecord

    record = InstitutionRecord(name="x", credit_code=CODES[0], lat=24.5, lon=118.1)
    with pytest.raises(ValueError, match="twice"):
        await repository.import_rows(db, [record, record], now=NOW)
