"""``carebot demo``, ``import``/``export institutions``, ``institutions claim-codes`` and ``nearby``.

The commission keeps the nursery register from the shell; every command that prints data has ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings


async def _database(settings: Settings) -> Any:
    from bot.storage import migrate
    from bot.storage.db import Database

    db = Database(settings.database_url)
    await migrate.upgrade(db)
    return db


def _report_dict(report: Any) -> dict[str, Any]:
    return {
        "source": report.source,
        "encoding": report.encoding,
        "read": report.read,
        "inserted": report.inserted,
        "updated": report.updated,
        "rejected": report.rejected,
        "rows_per_second": round(report.rows_per_second, 1),
        "reject_file": report.reject_path,
        "warnings": report.warnings,
        "rejects": [{"line": r.line, "reason": r.reason_text} for r in report.rejects],
    }


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_report_dict(report), ensure_ascii=False))
        return
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for rejected in report.rejects:
        print(f"line {rejected.line}: {rejected.reason_text}", file=sys.stderr)
    print(
        f"{report.read} rows read ({report.encoding}): {report.inserted} inserted, {report.updated} updated, "
        f"{report.rejected} rejected; {report.rows_per_second:.0f} rows/s"
    )
    if report.reject_path:
        print(f"rejected rows, with their reasons: {report.reject_path}")


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.clock import SystemClock
    from bot.directory import repository

    db = await _database(settings)
    try:
        report = await repository.load_sample(db, now=SystemClock().now())
    finally:
        await db.dispose()
    if not args.json:
        print("Loaded the sample register of Xiamen (synthetic nurseries, marked as sample data).")
    _print_report(report, args.json)
    return 0


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import CliError
    from bot.directory.csv_io import CsvFormatError
    from bot.directory.importer import import_csv

    path = Path(args.file)
    if not path.is_file():  # noqa: ASYNC240 (one stat before the import starts)
        raise CliError(f"{args.file}: no such file")
    db = await _database(settings)
    try:
        report = await import_csv(db, path, coord_system=args.coords, reject_path=args.rejects)
    except CsvFormatError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    finally:
        await db.dispose()
    _print_report(report, args.json)
    return 1 if report.rejected and args.strict else 0


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.directory.importer import export_csv

    db = await _database(settings)
    try:
        if args.output == "-":
            import tempfile

            with tempfile.TemporaryDirectory() as folder:
                target = Path(folder) / "register.csv"
                await export_csv(db, target, chinese_headers=args.chinese, include_sample=not args.no_sample)
                sys.stdout.write(target.read_text(encoding="utf-8-sig"))
        else:
            count = await export_csv(
                db, args.output, chinese_headers=args.chinese, include_sample=not args.no_sample
            )
            print(f"{count} nurseries written to {args.output}", file=sys.stderr)
    finally:
        await db.dispose()
    return 0


async def cmd_claim_codes(args: argparse.Namespace, settings: Settings) -> int:
    from bot import audit
    from bot.clock import SystemClock
    from bot.directory import repository

    db = await _database(settings)
    clock = SystemClock()
    try:
        ids = None
        if args.institution:
            found = [await repository.get_by_credit_code(db, code) for code in args.institution]
            missing = [code for code, inst in zip(args.institution, found, strict=True) if inst is None]
            if missing:
                from bot.cli import CliError

                raise CliError(f"no nursery with credit code {', '.join(missing)}")
            ids = [inst.id for inst in found if inst is not None and inst.id is not None]
        issued = await repository.claim_codes(db, ids, reissue=args.reissue, now=clock.now())
        await audit.record(
            db, clock, actor_id=None, action="claim_codes.issued", details={"count": len(issued)}
        )
    finally:
        await db.dispose()
    rows = [{"credit_code": c.credit_code, "name": c.name, "claim_code": c.code} for c in issued]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print("credit_code,name,claim_code")
        for row in rows:
            print(f"{row['credit_code']},{row['name']},{row['claim_code']}")
        print(f"{len(rows)} codes issued; they are stored hashed and cannot be shown again.", file=sys.stderr)
    return 0


async def cmd_nearby(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import CliError
    from bot.directory import repository

    points: list[tuple[float, float]] = []
    if args.batch:
        try:
            text = sys.stdin.read() if args.batch == "-" else Path(args.batch).read_text(encoding="utf-8-sig")  # noqa: ASYNC240
        except OSError as exc:
            raise CliError(f"{args.batch}: {exc.strerror}") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                lat_text, lon_text = line.replace("，", ",").split(",")[:2]
                points.append((float(lat_text), float(lon_text)))
            except ValueError:
                raise CliError(
                    f"{args.batch} line {number}: expected 'lat,lon', got {line.strip()!r}"
                ) from None
    elif args.lat is not None and args.lon is not None:
        points.append((args.lat, args.lon))
    else:
        raise CliError("give --lat and --lon, or --batch FILE with one 'lat,lon' a line")
    db = await _database(settings)
    try:
        for lat, lon in points:
            try:
                results = await repository.nearby(
                    db,
                    lat,
                    lon,
                    age_months=args.age_months,
                    inclusive_only=args.inclusive,
                    with_vacancy=args.with_vacancy,
                    limit=args.limit,
                )
            except ValueError as exc:
                raise CliError(str(exc)) from None
            if args.json:
                print(
                    json.dumps(
                        {"lat": lat, "lon": lon, "results": [_result(r) for r in results]}, ensure_ascii=False
                    )
                )
            else:
                print(f"near {lat}, {lon}:")
                for r in results:
                    badge = " 普惠" if r.inclusive else ""
                    sample = " (sample data)" if r.is_sample else ""
                    print(f"  {r.distance_m:8.0f} m  {r.name}{badge}  free {r.free_places}{sample}")
                if not results:
                    print("  nothing within 30 km")
    finally:
        await db.dispose()
    return 0


def _result(r: Any) -> dict[str, Any]:
    return {
        "id": r.institution_id,
        "name": r.name,
        "distance_m": round(r.distance_m, 1),
        "lat": r.lat,
        "lon": r.lon,
        "district": r.district,
        "inclusive": r.inclusive,
        "free_places": {c.age_class.value: c.free for c in r.classes},
        "filed_on": r.filed_on.isoformat() if r.filed_on else None,
        "updated_at": r.vacancies_updated_at.isoformat() if r.vacancies_updated_at else None,
        "sample": r.is_sample,
    }


def add_directory(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="load the bundled sample register of Xiamen (synthetic, marked as sample)"
    )
    p.add_argument("--json", action="store_true", help="print the import report as JSON")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("import", help="import data (the nursery register)")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    i = what.add_parser(
        "institutions",
        help="import the nursery register from CSV",
        description=(
            "Import the nursery register from a CSV file (UTF-8 or GBK; English or Chinese headers). Good rows "
            "are inserted or updated by credit code; bad rows are reported with their spreadsheet line "
            "number and written with a reason column to a reject file."
        ),
    )
    i.add_argument("file", help="the CSV file")
    i.add_argument(
        "--coords",
        choices=["WGS84", "GCJ02", "BD09"],
        default="WGS84",
        help="datum of lat/lon in the file (Chinese maps give GCJ02)",
    )
    i.add_argument(
        "--rejects", help="where to write rejected rows (default: FILE.rejects.csv beside the input)"
    )
    i.add_argument("--strict", action="store_true", help="exit with status 1 when any row was rejected")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(handler=cmd_import)

    p = sub.add_parser("export", help="export data (the nursery register)")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    e = what.add_parser("institutions", help="write the register as CSV (spreadsheet-formula safe)")
    e.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    e.add_argument("--chinese", action="store_true", help="Chinese column headers")
    e.add_argument("--no-sample", action="store_true", help="leave out sample data")
    e.set_defaults(handler=cmd_export)

    p = sub.add_parser("institutions", help="the nursery register")
    what = p.add_subparsers(dest="what", metavar="ACTION", required=True)
    c = what.add_parser("claim-codes", help="issue one-time codes operators claim their nursery with")
    c.add_argument(
        "--institution", action="append", metavar="CREDIT_CODE", help="only this nursery (repeatable)"
    )
    c.add_argument("--reissue", action="store_true", help="replace codes that were issued but not used")
    c.add_argument("--json", action="store_true", help="a JSON list of credit_code, name, claim_code")
    c.set_defaults(handler=cmd_claim_codes)

    p = sub.add_parser("nearby", help="the nearest nurseries to a point")
    p.add_argument("--lat", type=float, help="latitude (WGS-84)")
    p.add_argument("--lon", type=float, help="longitude (WGS-84)")
    p.add_argument("--age-months", type=int, help="only nurseries with a class for a child this old")
    p.add_argument("--inclusive", action="store_true", help="only 普惠 nurseries")
    p.add_argument(
        "--with-vacancy", action="store_true", help="only nurseries with a free place (for that age)"
    )
    p.add_argument("--limit", type=int, default=5, help="how many (default 5, at most 100)")
    p.add_argument("--batch", metavar="FILE", help="one 'lat,lon' a line ('-' for standard input)")
    p.add_argument("--json", action="store_true", help='{"results": [...]} per point')
    p.set_defaults(handler=cmd_nearby)
