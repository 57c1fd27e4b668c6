"""Reading and writing the nursery register as CSV: encoding detection (UTF-8 with or without BOM, GBK),
header aliases, row validation with spreadsheet line numbers, reject files and injection-safe export."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.directory import credit_code as cc
from bot.directory.categories import (
    LEGAL_FORM_LABELS_ZH,
    SERVICE_LABELS_ZH,
    AgeClass,
    LegalForm,
    format_services,
    parse_legal_form,
    parse_services,
    parse_yes_no,
)
from bot.directory.geo import CoordSystem, in_china, parse_coord_system, to_wgs84
from bot.directory.records import InstitutionRecord, Reason, RejectedRow

# Canonical columns in export order, each with the Chinese headers accepted for it (the first is the
# one written when exporting with Chinese headers).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "机构名称", "托育机构名称", "单位名称"),
    "credit_code": ("统一社会信用代码", "社会信用代码", "信用代码"),
    "district": ("所在区", "区", "行政区", "区县", "辖区"),
    "address": ("地址", "机构地址", "详细地址"),
    "lat": ("纬度", "latitude"),
    "lon": ("经度", "longitude", "lng"),
    "coord_system": ("坐标系", "坐标系统"),
    "inclusive": ("是否普惠", "普惠", "普惠性"),
    "legal_form": ("法人类型", "性质", "机构性质", "单位性质"),
    "infant_capacity": ("乳儿班托位", "乳儿班托位数"),
    "infant_free": ("乳儿班空位", "乳儿班空余托位", "乳儿班空位数"),
    "toddler_capacity": ("托小班托位", "托小班托位数"),
    "toddler_free": ("托小班空位", "托小班空余托位", "托小班空位数"),
    "older_capacity": ("托大班托位", "托大班托位数"),
    "older_free": ("托大班空位", "托大班空余托位", "托大班空位数"),
    "mixed_capacity": ("混合班托位", "混合班托位数"),
    "mixed_free": ("混合班空位", "混合班空余托位", "混合班空位数"),
    "services": ("服务类型", "服务方式", "托育类型"),
    "fee_min": ("最低月收费", "收费下限", "月收费下限", "最低收费"),
    "fee_max": ("最高月收费", "收费上限", "月收费上限", "最高收费"),
    "phone": ("联系电话", "电话"),
    "registered_on": ("登记日期", "注册日期", "成立日期"),
    "registration_authority": ("登记机关", "登记管理机关"),
    "filed_on": ("备案日期",),
    "is_sample": ("示例数据", "示例"),
    # Written on export for people to read; import accepts the column and ignores it, since only the
    # operator's own updates may move that stamp.
    "vacancies_updated_at": ("空位更新时间",),
}
REQUIRED = ("name", "credit_code", "lat", "lon")
NUMERIC_COLUMNS = frozenset(
    {"lat", "lon", "fee_min", "fee_max"} | {f"{c.value}_{k}" for c in AgeClass for k in ("capacity", "free")}
)

REJECT_REASON_HEADER = "reason"

MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 500

# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read as a register: encoding, header or emptiness."""


@dataclass(slots=True)
class ParsedRow:
    line: int
    physical_line: int
    record: InstitutionRecord


@dataclass(slots=True)
class ParsedFile:
    """A register file read and checked row by row; nothing has touched the database yet."""

    encoding: str
    header: list[str]
    columns: frozenset[str]  # canonical fields the file has a column for
    rows: list[ParsedRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blank_rows: int = 0

    @property
    def read(self) -> int:
        return len(self.rows) + len(self.rejected)


def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding name of a file from Excel, WPS or a script: UTF-8 (BOM or not), UTF-16, GBK.

    A file that is not valid UTF-8 is read as GB18030, the superset of GBK and GB2312 that Chinese
    Windows spreadsheets save in.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"the file is neither UTF-8 nor GBK text (byte {exc.start})") from None


def _fold_header(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s_\-]+", "", text)


_HEADER_LOOKUP: dict[str, str] = {}
for _canonical, _aliases in COLUMNS.items():
    for _alias in (_canonical, *_aliases):
        _HEADER_LOOKUP[_fold_header(_alias)] = _canonical


def map_header(header: Sequence[str]) -> tuple[dict[int, str], list[str]]:
    """Column index → canonical field, and the headers nobody knows (for one warning)."""
    mapping: dict[int, str] = {}
    seen: dict[str, str] = {}
    unknown: list[str] = []
    for i, raw in enumerate(header):
        key = _fold_header(raw)
        if not key:
            continue
        canonical = _HEADER_LOOKUP.get(key)
        if canonical is None:
            unknown.append(raw.strip())
            continue
        if canonical in seen:
            raise CsvFormatError(f"columns {seen[canonical]!r} and {raw.strip()!r} both mean {canonical!r}")
        seen[canonical] = raw.strip()
        mapping[i] = canonical
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise CsvFormatError(
            "missing required column(s): " + ", ".join(f"{c} ({COLUMNS[c][0]})" for c in missing)
        )
    return mapping, unknown


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(raw: str, *, limit: int = MAX_TEXT_LENGTH) -> str | None:
    # Line breaks inside a cell are layout, not content, in names and addresses.
    value = " ".join(raw.split())
    # Our own export guards formula-like cells with an apostrophe; take it off again on the way in.
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_TRIGGERS:
        value = value[1:]
    if not value:
        return None
    if len(value) > limit:
        raise _Invalid("too_long", f"longer than {limit} characters")
    return value


def _number_text(raw: str) -> str:
    value = unicodedata.normalize("NFKC", raw).strip()
    if len(value) > 1 and value[0] == "'":
        value = value[1:]
    return value.replace(",", "").replace("¥", "").replace("元", "").strip()


def _int(raw: str) -> int | None:
    number = _float(raw)
    if number is None:
        return None
    if number != int(number):
        raise _Invalid("not_a_whole_number", f"{raw.strip()!r} is not a whole number")
    if number < 0:
        raise _Invalid("negative", f"{raw.strip()!r} is negative")
    return int(number)


def _fee(raw: str) -> int | None:
    number = _float(raw)
    if number is None:
        return None
    if number < 0:
        raise _Invalid("negative", f"{raw.strip()!r} is negative")
    return int(number + 0.5)


def _float(raw: str) -> float | None:
    value = _number_text(raw)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise _Invalid("not_a_number", f"{raw.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise _Invalid("not_a_number", f"{raw.strip()!r} is not a number")
    return number


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_date(raw: str) -> date | None:
    """2023-05-01, 2023/5/1, 2023.05.01, 20230501 or 2023年5月1日; a time after the date is ignored."""
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        return None
    value = value.split(" ")[0].split("T")[0]
    for pattern in _DATE_PATTERNS:
        m = pattern.match(value)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                break
    raise _Invalid("bad_date", f"{raw.strip()!r} is not a date (use YYYY-MM-DD)")


def _yes_no(raw: str) -> bool | None:
    if not raw.strip():
        return None
    try:
        return parse_yes_no(raw)
    except ValueError:
        raise _Invalid("bad_yes_no", f"{raw.strip()!r} is not yes/no (是/否, true/false, 1/0, y/n)") from None


_PHONE_RE = re.compile(r"^[0-9+()\s\-/,;、，转ext.]+$", re.IGNORECASE)


def _phone(raw: str) -> str | None:
    value = _text(raw, limit=100)
    if value is None:
        return None
    value = unicodedata.normalize("NFKC", value)
    if not _PHONE_RE.match(value) or not any(ch.isdigit() for ch in value):
        raise _Invalid("bad_phone", f"{value!r} is not a phone number")
    return value


def _set(record: InstitutionRecord, column: str, value: Any) -> None:
    setattr(record, column, value)


def _check_row(
    cells: dict[str, str], *, default_system: CoordSystem, today: date
) -> tuple[InstitutionRecord | None, list[Reason]]:
    reasons: list[Reason] = []

    def fail(column: str | None, code: str, message: str) -> None:
        reasons.append(Reason(code=code, message=message, column=column))

    def field_value(column: str, parser: Callable[[str], Any]) -> Any:
        raw = cells.get(column, "")
        try:
            return parser(raw)
        except _Invalid as exc:
            fail(column, exc.code, f"{column}: {exc.message}")
            return None

    name = field_value("name", lambda s: _text(s, limit=MAX_NAME_LENGTH))
    if name is None and not any(r.column == "name" for r in reasons):
        fail("name", "missing", "name: missing")

    code: str | None = None
    raw_code = cells.get("credit_code", "")
    try:
        code = cc.parse(raw_code).value
    except cc.CreditCodeError as exc:
        fail("credit_code", exc.code, f"credit_code: {exc}")

    system = default_system
    raw_system = cells.get("coord_system", "").strip()
    if raw_system:
        try:
            system = parse_coord_system(raw_system)
        except ValueError as exc:
            fail("coord_system", "bad_coord_system", f"coord_system: {exc}")

    lat = field_value("lat", _float)
    lon = field_value("lon", _float)
    for column, value in (("lat", lat), ("lon", lon)):
        if value is None and not any(r.column == column for r in reasons):
            fail(column, "missing", f"{column}: missing")
    if lat is not None and lon is not None:
        if not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
            hint = " (latitude and longitude look swapped)" if -90 <= lon <= 90 and abs(lat) <= 180 else ""
            fail("lat", "coordinates_out_of_range", f"lat/lon {lat}, {lon} out of range{hint}")
        else:
            lat, lon = to_wgs84(lat, lon, system)
            if not in_china(lat, lon):
                hint = " (latitude and longitude look swapped)" if in_china(lon, lat) else ""
                fail(
                    "lat", "coordinates_outside_china", f"lat/lon {lat:.6f}, {lon:.6f} is outside China{hint}"
                )

    record = InstitutionRecord(name=name or "", credit_code=code or "", lat=lat or 0.0, lon=lon or 0.0)
    record.district = field_value("district", lambda s: _text(s, limit=50))
    record.address = field_value("address", _text)
    record.registration_authority = field_value("registration_authority", lambda s: _text(s, limit=100))
    record.phone = field_value("phone", _phone)
    record.inclusive = bool(field_value("inclusive", _yes_no))
    record.is_sample = field_value("is_sample", _yes_no)

    raw_form = cells.get("legal_form", "").strip()
    if raw_form:
        try:
            record.legal_form = parse_legal_form(raw_form)
        except ValueError:
            known = "、".join(LEGAL_FORM_LABELS_ZH.values())
            fail("legal_form", "unknown_legal_form", f"legal_form: unknown {raw_form!r} (known: {known})")

    raw_services = cells.get("services", "")
    if raw_services.strip():
        try:
            record.services = parse_services(raw_services)
        except ValueError as exc:
            known = "、".join(SERVICE_LABELS_ZH.values())
            fail("services", "unknown_service", f"services: {exc} (known: {known})")

    for age_class in AgeClass:
        cap_col, free_col = f"{age_class.value}_capacity", f"{age_class.value}_free"
        capacity = field_value(cap_col, _int)
        free = field_value(free_col, _int)
        _set(record, cap_col, capacity or 0)
        _set(record, free_col, free)
        if free is not None and free > (capacity or 0):
            fail(
                free_col,
                "free_exceeds_capacity",
                f"{free_col}: {free} free places but capacity is {capacity or 0}",
            )

    record.fee_min = field_value("fee_min", _fee)
    record.fee_max = field_value("fee_max", _fee)
    if record.fee_min is not None and record.fee_max is not None and record.fee_min > record.fee_max:
        fail("fee_min", "fee_range", f"fee_min {record.fee_min} is above fee_max {record.fee_max}")

    latest = today + timedelta(days=1)  # slack for the time-zone gap between UTC and the register's
    record.registered_on = field_value("registered_on", parse_date)
    record.filed_on = field_value("filed_on", parse_date)
    for column in ("registered_on", "filed_on"):
        value = getattr(record, column)
        if value is not None and (value > latest or value.year < 1949):
            fail(column, "date_out_of_range", f"{column}: {value.isoformat()} is not a plausible date")
    if record.registered_on and record.filed_on and record.filed_on < record.registered_on:
        fail(
            "filed_on",
            "filed_before_registered",
            "filed_on is before registered_on (filing follows registration)",
        )

    if reasons:
        return None, reasons
    return record, reasons


def parse_institutions(
    data: bytes | str,
    *,
    coord_system: CoordSystem | str = CoordSystem.WGS84,
    today: date | None = None,
) -> ParsedFile:
    """Read a register CSV into checked records and refused rows, with spreadsheet row numbers.

    A record's `line` counts rows as a spreadsheet shows them (header = 1, blank rows counted, a cell
    with line breaks still one row); `physical_line` is where it starts in the text, from the csv
    reader's line count, for people who open the file in an editor.
    """
    if isinstance(data, bytes):
        text, encoding = decode(data)
    else:
        text, encoding = data.lstrip("\ufeff"), "text"
    system = coord_system if isinstance(coord_system, CoordSystem) else parse_coord_system(coord_system)
    today = today or datetime.now().astimezone().date()

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError("the file is empty") from None
    except csv.Error as exc:
        raise CsvFormatError(f"the header row is not valid CSV: {exc}") from None
    while not any(cell.strip() for cell in header):
        try:
            header = next(reader)
        except StopIteration:
            raise CsvFormatError("the file has no header row") from None
    mapping, unknown = map_header(header)
    result = ParsedFile(encoding=encoding, header=header, columns=frozenset(mapping.values()))
    if unknown:
        result.warnings.append("unknown column(s) ignored: " + ", ".join(unknown))

    first_line: dict[str, int] = {}
    line = 1
    last_physical = reader.line_num
    while True:
        start = last_physical + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line += 1
            result.rejected.append(
                RejectedRow(
                    line=line,
                    physical_line=start,
                    cells=[],
                    reasons=[Reason("bad_csv", f"not valid CSV: {exc}")],
                )
            )
            last_physical = reader.line_num
            continue
        line += 1
        last_physical = reader.line_num
        if not any(cell.strip() for cell in row):
            result.blank_rows += 1
            continue
        cells = {column: row[i] for i, column in mapping.items() if i < len(row)}
        record, reasons = _check_row(cells, default_system=system, today=today)
        if len(row) > len(header) and any(c.strip() for c in row[len(header) :]):
            reasons.append(Reason("extra_cells", f"{len(row)} cells but the header has {len(header)}"))
            record = None
        if record is not None:
            earlier = first_line.get(record.credit_code)
            if earlier is not None:
                reasons.append(
                    Reason(
                        "duplicate_credit_code",
                        f"credit_code {record.credit_code} already on line {earlier}",
                        "credit_code",
                    )
                )
                record = None
            else:
                first_line[record.credit_code] = line
        if record is None:
            result.rejected.append(
                RejectedRow(line=line, physical_line=start, cells=list(row), reasons=reasons)
            )
        else:
            result.rows.append(ParsedRow(line=line, physical_line=start, record=record))
    return result


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def neutralize(cell: str) -> str:
    """Guard a text cell against spreadsheet formula injection with a leading apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_TRIGGERS) else cell


def write_rejects(path: Path | str, header: Sequence[str], rejected: Iterable[RejectedRow]) -> None:
    """The refused rows as they came, plus a reason column, for staff to fix and import again.

    UTF-8 with a BOM, which Excel and WPS open correctly whatever the input's encoding was.
    """
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*header, REJECT_REASON_HEADER])
        for row in rejected:
            cells = [c if _looks_numeric(c) else neutralize(c) for c in row.cells]
            cells += [""] * (len(header) - len(cells))
            writer.writerow([*cells, neutralize(row.reason_text)])


def export_header(*, chinese: bool) -> list[str]:
    return [COLUMNS[c][0] if chinese else c for c in COLUMNS]


def _format_number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 7))
    return str(value)


def record_cells(record: InstitutionRecord, *, chinese: bool) -> list[str]:
    """One export row; text cells are guarded against formula injection, numbers are left as numbers."""
    out: list[str] = []
    for column in COLUMNS:
        if column == "coord_system":
            out.append(CoordSystem.WGS84.value)
            continue
        value = getattr(record, column)
        if column in NUMERIC_COLUMNS:
            out.append(_format_number(value))
            continue
        if value is None:
            cell = ""
        elif isinstance(value, bool):
            cell = ("是" if value else "否") if chinese else ("true" if value else "false")
        elif isinstance(value, LegalForm):
            cell = LEGAL_FORM_LABELS_ZH[value] if chinese else value.value
        elif isinstance(value, frozenset):
            cell = format_services(value, chinese=chinese)
        elif isinstance(value, datetime):
            cell = value.isoformat(timespec="seconds")
        elif isinstance(value, date):
            cell = value.isoformat()
        else:
            cell = str(value)
        out.append(neutralize(cell))
    return out


def write_institutions(out: TextIO, records: Iterable[InstitutionRecord], *, chinese: bool = False) -> int:
    """Write the register to an open text stream (newline=""); returns the number of rows written."""
    writer = csv.writer(out)
    writer.writerow(export_header(chinese=chinese))
    count = 0
    for record in records:
        writer.writerow(record_cells(record, chinese=chinese))
        count += 1
    return count
