"""Importing and exporting the nursery register as CSV files: read and check the file, upsert the good
rows by credit code, write refused rows to a reject file, and report counts and speed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.directory import repository
from bot.directory.csv_io import parse_institutions, write_institutions, write_rejects
from bot.directory.geo import CoordSystem
from bot.directory.records import ImportReport


def default_reject_path(path: Path) -> Path:
    """Where refused rows go unless told otherwise: beside the input, as NAME.rejects.csv."""
    return path.with_name(f"{path.stem}.rejects.csv")


async def import_csv(
    db: repository.SessionSource,
    path: Path | str,
    *,
    coord_system: CoordSystem | str = CoordSystem.WGS84,
    reject_path: Path | str | None = None,
    is_sample: bool | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import a register CSV (UTF-8 with or without BOM, or GBK; English or Chinese headers).

    `coord_system` is the datum of the file's coordinates (a `coord_system`/坐标系 column overrides it
    per row). Good rows are upserted in one transaction; refused rows are listed in the report and, when
    there are any, written with a reason column to `reject_path` (default: beside the input as
    NAME.rejects.csv). Raises csv_io.CsvFormatError when the file as a whole is unreadable.
    """
    source = Path(path)
    stamp = now or datetime.now(UTC)
    started = time.perf_counter()
    data = await asyncio.to_thread(source.read_bytes)
    # Checking 100,000 rows takes seconds of CPU: off the event loop, so a bot process keeps answering.
    parsed = await asyncio.to_thread(parse_institutions, data, coord_system=coord_system, today=stamp.date())
    inserted, updated = await repository.import_rows(
        db,
        [row.record for row in parsed.rows],
        columns=parsed.columns,
        is_sample=is_sample,
        now=stamp,
    )
    report = ImportReport(
        source=str(source),
        encoding=parsed.encoding,
        read=parsed.read,
        inserted=inserted,
        updated=updated,
        rejected=len(parsed.rejected),
        blank_rows=parsed.blank_rows,
        warnings=list(parsed.warnings),
        rejects=list(parsed.rejected),
    )
    if parsed.rejected:
        target = Path(reject_path) if reject_path is not None else default_reject_path(source)
        await asyncio.to_thread(write_rejects, target, parsed.header, parsed.rejected)
        report.reject_path = str(target)
    report.seconds = time.perf_counter() - started
    return report


async def export_csv(
    db: repository.SessionSource,
    path: Path | str,
    *,
    chinese_headers: bool = False,
    include_sample: bool = True,
) -> int:
    """Write the register to `path` (UTF-8 with BOM, formula-safe); returns the number of rows."""
    records = await repository.export_rows(db, include_sample=include_sample)

    def write() -> int:
        with open(path, "w", encoding="utf-8-sig", newline="") as out:
            return write_institutions(out, records, chinese=chinese_headers)

    return await asyncio.to_thread(write)
