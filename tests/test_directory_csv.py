"""Reading the register CSV (encodings, header aliases, every refused row with its line number), reject
files, and the formula-safe export. Pure: no database."""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from pathlib import Path

import pytest

from bot.directory import credit_code as cc
from bot.directory import geo
from bot.directory.categories import LegalForm, ServiceType
from bot.directory.csv_io import (
    CsvFormatError,
    ParsedFile,
    decode,
    export_header,
    neutralize,
    parse_institutions,
    record_cells,
    write_institutions,
    write_rejects,
)
from bot.directory.records import InstitutionRecord

TODAY = date(2026, 11, 23)
_rng = random.Random(42)
CODES = [cc.generate("91", "350203", _rng) for _ in range(20)]

HEADER = "name,credit_code,district,address,lat,lon,inclusive,legal_form,toddler_capacity,toddler_free,services,fee_min,fee_max,phone,registered_on,filed_on"


def row(n: int, **over: str) -> str:
    values = {
        "name": f"测试托育园{n}",
        "credit_code": CODES[n],
        "district": "思明区",
        "address": "示例路1号",
        "lat": "24.48",
        "lon": "118.09",
        "inclusive": "是",
        "legal_form": "企业",
        "toddler_capacity": "30",
        "toddler_free": "3",
        "services": "全日托",
        "fee_min": "2000",
        "fee_max": "3000",
        "phone": "0592-0001234",
        "registered_on": "2020-01-02",
        "filed_on": "2020-03-04",
    }
    values.update(over)
    buf = io.StringIO()
    csv.writer(buf).writerow(values.values())
    return buf.getvalue().removesuffix("\r\n")


def parse(text: str, coord_system: str = "WGS84") -> ParsedFile:
    return parse_institutions(text.encode("utf-8"), today=TODAY, coord_system=coord_system)


def test_good_file_reads_every_field() -> None:
    result = parse_institutions(
        f"{HEADER}\n{row(0)}\n{row(1, inclusive='否', filed_on='')}\n".encode(), today=TODAY
    )
    assert result.encoding == "utf-8"
    assert [r.line for r in result.rows] == [2, 3]
    assert not result.rejected and not result.warnings
    first = result.rows[0].record
    assert first.name == "测试托育园0" and first.credit_code == CODES[0]
    assert first.inclusive and first.legal_form is LegalForm.ENTERPRISE
    assert first.toddler_capacity == 30 and first.toddler_free == 3
    assert first.infant_capacity == 0 and first.infant_free is None
    assert first.services == {ServiceType.FULL_DAY}
    assert (first.fee_min, first.fee_max) == (2000, 3000)
    assert first.registered_on == date(2020, 1, 2) and first.filed_on == date(2020, 3, 4)
    assert result.rows[1].record.filed_on is None and not result.rows[1].record.inclusive


def test_gbk_file_with_chinese_headers() -> None:
    text = (
        "机构名称,统一社会信用代码,所在区,地址,纬度,经度,是否普惠,法人类型,托小班托位,托小班空位,服务类型\n"
        f"小树苗托育园,{CODES[0]},湖里区,湖里示例路,24.51,118.10,是,民办非企业,20,2,全日托、半日托\n"
    )
    result = parse_institutions(text.encode("gbk"), today=TODAY)
    assert result.encoding == "gbk"
    assert not result.rejected
    record = result.rows[0].record
    assert record.name == "小树苗托育园" and record.district == "湖里区"
    assert record.legal_form is LegalForm.PRIVATE_NON_ENTERPRISE
    assert record.services == {ServiceType.FULL_DAY, ServiceType.HALF_DAY}


def test_utf8_with_bom_and_header_variants() -> None:
    text = (
        "名称 , 统一社会信用代码,区,纬度,经度,普惠,性质,乳儿班托位,乳儿班空位,Fee_Min,FEE-MAX\r\n"
        f"A园,{CODES[0]},思明区,24.48,118.09,1,事业单位,10,0,1200,1800\r\n"
    )
    data = "\ufeff".encode() + text.encode("utf-8")
    assert decode(data)[1] == "utf-8-sig"
    result = parse_institutions(data, today=TODAY)
    assert not result.rejected and not result.warnings
    record = result.rows[0].record
    assert record.name == "A园" and record.inclusive and record.infant_capacity == 10
    assert (record.fee_min, record.fee_max) == (1200, 1800)
    assert result.columns >= {"name", "credit_code", "lat", "lon", "infant_free", "fee_max"}


def test_decode_utf16_and_garbage() -> None:
    assert decode("名称".encode("utf-16"))[1] == "utf-16"
    assert decode(b"\xff\xfe")[1] == "utf-16"


def test_unknown_columns_are_one_warning() -> None:
    text = f"{HEADER},备注,负责人\n{row(0)},x,y\n{row(1)},,\n"
    result = parse(text)
    assert result.warnings == ["unknown column(s) ignored: 备注, 负责人"]
    assert len(result.rows) == 2


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,lat,lon", "missing required column"),
        ("name,credit_code,lat,lon,纬度", "both mean 'lat'"),
    ],
)
def test_bad_headers_stop_the_import(header: str, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message):
        parse(header + "\n")


def test_empty_file() -> None:
    with pytest.raises(CsvFormatError, match="empty"):
        parse("")
    with pytest.raises(CsvFormatError, match="no header"):
        parse("\n\n")


BAD_ROWS = [
    ({"credit_code": "91350100M000100Y44"}, "credit_code_check_digit"),
    ({"credit_code": "123"}, "credit_code_length"),
    ({"credit_code": ""}, "credit_code_missing"),
    ({"lat": "95"}, "coordinates_out_of_range"),
    ({"lon": "abc"}, "not_a_number"),
    ({"lat": ""}, "missing"),
    ({"lat": "51.5", "lon": "-0.12"}, "coordinates_outside_china"),
    ({"toddler_free": "31"}, "free_exceeds_capacity"),
    ({"toddler_capacity": "-5", "toddler_free": ""}, "negative"),
    ({"toddler_capacity": "2.5"}, "not_a_whole_number"),
    ({"fee_min": "5000"}, "fee_range"),
    ({"fee_max": "-1"}, "negative"),
    ({"registered_on": "2020-13-01"}, "bad_date"),
    ({"filed_on": "next week"}, "bad_date"),
    ({"filed_on": "2019-01-01"}, "filed_before_registered"),
    ({"filed_on": "2030-01-01"}, "date_out_of_range"),
    ({"legal_form": "合伙企业"}, "unknown_legal_form"),
    ({"services": "全日托,夜托"}, "unknown_service"),
    ({"inclusive": "maybe"}, "bad_yes_no"),
    ({"name": ""}, "missing"),
    ({"phone": "call us"}, "bad_phone"),
]


@pytest.mark.parametrize(("override", "code"), BAD_ROWS)
def test_each_bad_row_is_refused_with_its_line(override: dict[str, str], code: str) -> None:
    text = f"{HEADER}\n{row(0)}\n{row(1, **override)}\n{row(2)}\n"
    result = parse(text)
    assert [r.line for r in result.rows] == [2, 4]
    (rejected,) = result.rejected
    assert rejected.line == 3
    assert code in [r.code for r in rejected.reasons]
    assert rejected.cells[1] == override.get("credit_code", CODES[1])


def test_swapped_coordinates_get_a_hint() -> None:
    result = parse(f"{HEADER}\n{row(0, lat='118.09', lon='24.48')}\n")
    assert "look swapped" in result.rejected[0].reason_text


def test_all_reasons_of_a_row_are_reported_together() -> None:
    result = parse(f"{HEADER}\n{row(0, credit_code='X', lat='200', fee_min='9000', services='夜托')}\n")
    codes = [r.code for r in result.rejected[0].reasons]
    assert codes == ["credit_code_length", "coordinates_out_of_range", "unknown_service", "fee_range"]


def test_duplicate_credit_code_keeps_the_first_and_names_it() -> None:
    text = f"{HEADER}\n{row(0)}\n{row(1)}\n{row(2, credit_code=CODES[0])}\n"
    result = parse(text)
    assert [r.line for r in result.rows] == [2, 3]
    (dup,) = result.rejected
    assert dup.line == 4 and "already on line 2" in dup.reason_text


def test_a_refused_first_occurrence_does_not_block_a_good_second() -> None:
    text = f"{HEADER}\n{row(0, lat='99')}\n{row(0)}\n"
    result = parse(text)
    assert [r.line for r in result.rows] == [3]
    assert [r.line for r in result.rejected] == [2]


def test_multiline_cells_and_blank_rows_keep_spreadsheet_numbering() -> None:
    text = (
        f"{HEADER}\n"
        f"{row(0, address='第一行' + chr(10) + '第二行' + chr(10) + '第三行')}\n"
        "\n"
        f"{row(1, lat='99')}\n"
        f"{row(2, name='多' + chr(10) + '行', fee_min='9000')}\n"
        f"{row(3)}\n"
    )
    result = parse(text)
    # spreadsheet rows: header 1, multi-line 2, blank 3, bad 4, bad 5, good 6
    assert [(r.line, r.physical_line) for r in result.rows] == [(2, 2), (6, 9)]
    assert [(r.line, r.physical_line) for r in result.rejected] == [(4, 6), (5, 7)]
    assert result.blank_rows == 1
    assert result.rows[0].record.address == "第一行 第二行 第三行"


def test_extra_non_empty_cells_are_refused_but_trailing_commas_are_not() -> None:
    text = f"{HEADER}\n{row(0)},,\n{row(1)},surprise\n"
    result = parse(text)
    assert [r.line for r in result.rows] == [2]
    assert result.rejected[0].reasons[0].code == "extra_cells"


def test_short_rows_read_missing_cells_as_blank() -> None:
    text = f"{HEADER}\n测试,{CODES[0]},思明区,,24.48,118.09\n"
    result = parse(text)
    assert result.rows[0].record.toddler_capacity == 0


def test_gcj02_import_option_and_column() -> None:
    g_lat, g_lon = geo.wgs84_to_gcj02(24.48, 118.09)
    text = f"{HEADER}\n{row(0, lat=str(g_lat), lon=str(g_lon))}\n"
    record = parse(text, coord_system="GCJ-02").rows[0].record
    assert geo.haversine_m(record.lat, record.lon, 24.48, 118.09) < 0.01
    # a per-row column overrides the option
    text = f"{HEADER},坐标系\n{row(0, lat=str(g_lat), lon=str(g_lon))},高德\n{row(1)},WGS84\n"
    result = parse(text)
    first, second = (r.record for r in result.rows)
    assert geo.haversine_m(first.lat, first.lon, 24.48, 118.09) < 0.01
    assert (second.lat, second.lon) == (24.48, 118.09)
    bad = parse(f"{HEADER},coord_system\n{row(0)},UTM\n")
    assert bad.rejected[0].reasons[0].code == "bad_coord_system"


def test_date_and_number_formats() -> None:
    text = f"{HEADER}\n{row(0, registered_on='2020/1/2', filed_on='2020年3月4日', fee_min='2,000', fee_max='3000.4')}\n"
    record = parse(text).rows[0].record
    assert record.registered_on == date(2020, 1, 2) and record.filed_on == date(2020, 3, 4)
    assert (record.fee_min, record.fee_max) == (2000, 3000)
    record = (
        parse(f"{HEADER}\n{row(0, registered_on='20200102', filed_on='2020-03-04 00:00:00')}\n")
        .rows[0]
        .record
    )
    assert record.registered_on == date(2020, 1, 2) and record.filed_on == date(2020, 3, 4)


def test_reject_file_keeps_the_row_and_adds_the_reason(tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://x")'
    text = f"{HEADER}\n{row(0)}\n{row(1, name=formula, toddler_capacity='-5', toddler_free='')}\n"
    result = parse(text)
    target = tmp_path / "rejects.csv"
    write_rejects(target, result.header, result.rejected)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [*HEADER.split(","), "reason"]
    assert rows[1][0] == '\'=HYPERLINK("http://x")'  # guarded
    assert rows[1][8] == "-5"  # a number stays a number
    assert "negative" in rows[1][-1]
    # staff can fix the reject file and import it again: the reason column is only a warning
    fixed = raw.decode("utf-8-sig").replace("-5", "5")
    again = parse_institutions(fixed.encode(), today=TODAY)
    assert again.warnings == ["unknown column(s) ignored: reason"]
    assert again.rows[0].record.name == '=HYPERLINK("http://x")'


def test_neutralize() -> None:
    for cell in ("=1+1", "+86 592", "-x", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize(cell) == "'" + cell
    assert neutralize("小树苗") == "小树苗"
    assert neutralize("") == ""


def _record(**over: object) -> InstitutionRecord:
    base = InstitutionRecord(
        name="=cmd|' /C calc'!A0",
        credit_code=CODES[0],
        lat=24.48,
        lon=118.09,
        district="@思明区",
        address="-1号",
        inclusive=True,
        legal_form=LegalForm.HOME_BASED,
        toddler_capacity=5,
        toddler_free=1,
        services=frozenset({ServiceType.FULL_DAY, ServiceType.HOURLY}),
        fee_min=1000,
        fee_max=2000,
        phone="+86 592 0001234",
        registered_on=date(2020, 1, 2),
        filed_on=None,
        is_sample=False,
    )
    for k, v in over.items():
        setattr(base, k, v)
    return base


def test_export_guards_text_cells_only() -> None:
    header = export_header(chinese=False)
    cells = dict(zip(header, record_cells(_record(lon=-0.5), chinese=False), strict=True))
    assert cells["name"] == "'=cmd|' /C calc'!A0"
    assert cells["district"] == "'@思明区"
    assert cells["address"] == "'-1号"
    assert cells["phone"] == "'+86 592 0001234"
    assert cells["lon"] == "-0.5"  # numbers are not text
    assert cells["legal_form"] == "home_based"
    assert cells["services"] == "full_day,hourly"
    assert cells["inclusive"] == "true" and cells["filed_on"] == ""
    zh = dict(zip(export_header(chinese=True), record_cells(_record(), chinese=True), strict=True))
    assert zh["法人类型"] == "家庭托育点" and zh["服务类型"] == "全日托、计时托" and zh["是否普惠"] == "是"


@pytest.mark.parametrize("chinese", [False, True])
def test_export_then_import_round_trips(chinese: bool) -> None:
    records = [
        _record(),
        _record(credit_code=CODES[1], name="普通名字", district=None, address=None, phone=None),
    ]
    buf = io.StringIO()
    assert write_institutions(buf, records, chinese=chinese) == 2
    result = parse_institutions(buf.getvalue().encode("utf-8"), today=TODAY)
    assert not result.rejected and not result.warnings
    assert [r.record for r in result.rows] == records
