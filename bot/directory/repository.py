"""Storage of the nursery directory: upserting the register, nearby search over indexed coordinates,
the filing lookup by name, claim codes, operator links and free-place updates. No session escapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, insert, or_, text, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.directory import codes
from bot.directory import credit_code as cc
from bot.directory.categories import AgeClass, ServiceType, parse_age_class
from bot.directory.csv_io import COLUMNS
from bot.directory.geo import bounding_box, haversine_m
from bot.directory.models import SERVICE_COLUMNS, ClaimCode, Institution, InstitutionOperator
from bot.directory.names import distinctive_bigrams, match_score, name_key, strip_question
from bot.directory.records import (
    DistrictFigures,
    FilingStatus,
    ImportReport,
    InstitutionRecord,
    IssuedClaimCode,
    NearbyResult,
)
from bot.directory.search import (
    DEFAULT_INITIAL_RADIUS_M,
    DEFAULT_MAX_RADIUS_M,
    NearbyQuery,
    make_result,
    nearby_reference,
    rank,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult


class SessionSource(Protocol):
    """What the directory needs of `bot.storage.db.Database`: sessions, one per unit of work."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]: ...


class DirectoryError(Exception):
    """Base of the directory's refusals; `reason` is a stable code for the message catalog."""

    reason = "error"


class InstitutionNotFound(DirectoryError, LookupError):
    reason = "institution_not_found"


class NotAnOperator(DirectoryError, PermissionError):
    """The user has not claimed this nursery, so may not act for it."""

    reason = "not_an_operator"


class VacancyError(DirectoryError, ValueError):
    """A free-place figure the nursery's classes cannot hold."""

    reason = "bad_vacancy"


class ClaimError(DirectoryError):
    """A claim that cannot go through; `reason` is one of unknown, used, expired, revoked, already_linked,
    and too_many (failed attempts: ``retry_at`` says when the person may try again)."""

    def __init__(self, reason: str, message: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_at = retry_at


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _free_col(age_class: AgeClass) -> Any:
    return getattr(Institution, f"{age_class.value}_free")


def _capacity_col(age_class: AgeClass) -> Any:
    return getattr(Institution, f"{age_class.value}_capacity")


# ---------------------------------------------------------------------------------------------- reads


async def get(db: SessionSource, institution_id: int) -> Institution | None:
    async with db.session() as session:
        institution = await session.get(Institution, institution_id)
        if institution is not None:
            session.expunge(institution)
        return institution


async def get_by_credit_code(db: SessionSource, credit_code: str) -> Institution | None:
    async with db.session() as session:
        result = await session.exec(
            select(Institution).where(Institution.credit_code == cc.normalize(credit_code))
        )
        institution = result.first()
        if institution is not None:
            session.expunge(institution)
        return institution


async def export_rows(db: SessionSource, *, include_sample: bool = True) -> list[InstitutionRecord]:
    """The whole register in id order, ready for `csv_io.write_institutions`."""
    stmt = select(Institution).order_by(col(Institution.id))
    if not include_sample:
        stmt = stmt.where(col(Institution.is_sample).is_(False))
    async with db.session() as session:
        return [i.to_record() for i in (await session.exec(stmt)).all()]


async def district_figures(db: SessionSource, *, include_sample: bool = True) -> list[DistrictFigures]:
    """Totals per district for the commission's figures (places, 普惠 share, filing rate, free places)."""
    places = sum((_capacity_col(c) for c in AgeClass), start=func.coalesce(0, 0))
    free = sum((func.coalesce(_free_col(c), 0) for c in AgeClass), start=func.coalesce(0, 0))
    inclusive = col(Institution.inclusive).is_(True)
    stmt = sa_select(
        col(Institution.district),
        func.count(),
        func.sum(case((inclusive, 1), else_=0)),
        func.sum(places),
        func.sum(case((inclusive, places), else_=0)),
        func.sum(case((col(Institution.filed_on).is_not(None), 1), else_=0)),
        func.sum(free),
    ).group_by(col(Institution.district))
    if not include_sample:
        stmt = stmt.where(col(Institution.is_sample).is_(False))
    async with db.session() as session:
        connection = await session.connection()
        rows = (await connection.execute(stmt)).all()
    figures = [
        DistrictFigures(d, int(n), int(ni or 0), int(p or 0), int(pi or 0), int(nf or 0), int(fr or 0))
        for d, n, ni, p, pi, nf, fr in rows
    ]
    return sorted(figures, key=lambda f: (f.district is None, f.district or ""))


# --------------------------------------------------------------------------------------------- import

_FREE_FIELDS = tuple(f"{c.value}_free" for c in AgeClass)
_CAPACITY_FIELDS = tuple(f"{c.value}_capacity" for c in AgeClass)
# CSV columns that are stored as they are, with the same name.
_PLAIN_FIELDS = (
    "credit_code",
    "district",
    "address",
    "lat",
    "lon",
    "inclusive",
    *_CAPACITY_FIELDS,
    "fee_min",
    "fee_max",
    "phone",
    "registered_on",
    "registration_authority",
    "filed_on",
)


def _stored_values(record: InstitutionRecord) -> dict[str, Any]:
    """Table values for every register column of a record (free places and stamps are handled apart)."""
    values: dict[str, Any] = {f: getattr(record, f) for f in _PLAIN_FIELDS}
    values["name"] = record.name
    values["name_key"] = name_key(record.name)
    values["legal_form"] = record.legal_form.value if record.legal_form else None
    for service, column in SERVICE_COLUMNS.items():
        values[column] = service in record.services
    values["is_sample"] = bool(record.is_sample)
    return values


def _table_keys(columns: frozenset[str]) -> frozenset[str]:
    """The table columns that the given register columns set."""
    keys = {f for f in _PLAIN_FIELDS if f in columns}
    if "name" in columns:
        keys |= {"name", "name_key"}
    if "legal_form" in columns:
        keys.add("legal_form")
    if "services" in columns:
        keys |= set(SERVICE_COLUMNS.values())
    if "is_sample" in columns:
        keys.add("is_sample")
    return frozenset(keys)


_TABLE = Institution.__table__  # type: ignore[attr-defined]
ANALYZE_AFTER_ROWS = 1000


async def import_rows(
    db: SessionSource,
    records: Sequence[InstitutionRecord],
    *,
    columns: Iterable[str] | None = None,
    is_sample: bool | None = None,
    now: datetime | None = None,
    batch_size: int = 2000,
) -> tuple[int, int]:
    """Upsert records by credit code in one transaction; returns (inserted, updated).

    `columns` names the register columns the source had (all when None): an update changes only
    those, so a register without free-place columns keeps what operators reported. A blank free-place
    cell also keeps the stored figure (cut down to a smaller new capacity); a stated one replaces it
    and stamps `vacancies_updated_at`. `is_sample`, when given, overrides the rows' own flag.
    """
    present = frozenset(columns) if columns is not None else frozenset(COLUMNS)
    stamp = _now(now)
    seen: set[str] = set()
    for record in records:
        if record.credit_code in seen:
            raise ValueError(f"credit code {record.credit_code} appears twice")
        seen.add(record.credit_code)
    update_keys = _table_keys(present | {"name", "credit_code", "lat", "lon"})
    if is_sample is not None:
        update_keys |= {"is_sample"}
    # Every update row carries the same keys, so each batch goes out as one executemany.
    update_stmt = (
        update(_TABLE)
        .where(_TABLE.c.id == bindparam("row_id"))
        .values(
            {k: bindparam(k) for k in (*update_keys, *_FREE_FIELDS, "vacancies_updated_at", "updated_at")}
        )
    )
    inserted = updated = 0
    existing_cols = (
        _TABLE.c.credit_code,
        _TABLE.c.id,
        _TABLE.c.vacancies_updated_at,
        *(_TABLE.c[f] for f in _CAPACITY_FIELDS),
        *(_TABLE.c[f] for f in _FREE_FIELDS),
    )
    async with db.session() as session:
        connection = await session.connection()
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            found = await connection.execute(
                sa_select(*existing_cols).where(_TABLE.c.credit_code.in_([r.credit_code for r in batch]))
            )
            existing = {row[0]: row for row in found.all()}
            to_insert: list[dict[str, Any]] = []
            to_update: list[dict[str, Any]] = []
            for record in batch:
                values = _stored_values(record)
                if is_sample is not None:
                    values["is_sample"] = is_sample
                stated = any(record.free(c) is not None for c in AgeClass)
                old = existing.get(record.credit_code)
                if old is None:
                    for f in _FREE_FIELDS:
                        values[f] = getattr(record, f)
                    values["vacancies_updated_at"] = stamp if stated else None
                    values["created_at"] = values["updated_at"] = stamp
                    to_insert.append(values)
                    continue
                row = {k: values[k] for k in update_keys}
                old_caps = dict(zip(_CAPACITY_FIELDS, old[3:7], strict=True))
                old_free = dict(zip(_FREE_FIELDS, old[7:11], strict=True))
                for c, cap_f, free_f in zip(AgeClass, _CAPACITY_FIELDS, _FREE_FIELDS, strict=True):
                    capacity = row.get(cap_f, old_caps[cap_f])
                    given = record.free(c)
                    kept = given if given is not None else old_free[free_f]
                    row[free_f] = None if kept is None else min(kept, capacity)
                row["vacancies_updated_at"] = stamp if stated else old[2]
                row["updated_at"] = stamp
                row["row_id"] = old[1]
                to_update.append(row)
            if to_insert:
                await connection.execute(_TABLE.insert(), to_insert)
                inserted += len(to_insert)
            if to_update:
                await connection.execute(update_stmt, to_update)
                updated += len(to_update)
        await session.commit()
    if inserted >= ANALYZE_AFTER_ROWS:
        # Fresh planner statistics keep the nearby search on the lat/lon index right after a bulk
        # load; PostgreSQL's autovacuum would get there only later, SQLite never by itself.
        async with db.session() as session:
            connection = await session.connection()
            await connection.execute(text(f"ANALYZE {_TABLE.name}"))
    return inserted, updated


async def load_sample(db: SessionSource, *, now: datetime | None = None) -> ImportReport:
    """Load the bundled sample register of Xiamen through the ordinary import, every row marked sample."""
    from bot.directory.importer import import_csv
    from bot.directory.sample import SAMPLE_PATH

    return await import_csv(db, SAMPLE_PATH, is_sample=True, now=now)


async def delete_sample(db: SessionSource) -> int:
    """Remove the sample nurseries (and their codes and operator links); returns how many went."""
    sample_ids = select(Institution.id).where(col(Institution.is_sample).is_(True))
    async with db.session() as session:
        await session.exec(
            delete(InstitutionOperator).where(col(InstitutionOperator.institution_id).in_(sample_ids))
        )
        await session.exec(delete(ClaimCode).where(col(ClaimCode.institution_id).in_(sample_ids)))
        result: CursorResult[Any] = await session.exec(
            delete(Institution).where(col(Institution.is_sample).is_(True))
        )
        await session.commit()
        return int(result.rowcount)


# --------------------------------------------------------------------------------------------- nearby


def _sql_filters(query: NearbyQuery) -> list[ColumnElement[bool]]:
    """The SQL form of `search.matches`."""
    conditions: list[ColumnElement[bool]] = []
    if query.inclusive_only:
        conditions.append(col(Institution.inclusive).is_(True))
    if query.service is not None:
        conditions.append(getattr(Institution, SERVICE_COLUMNS[query.service]).is_(True))
    if query.with_vacancy:
        # free > 0 implies capacity > 0 (a table check), so this also covers the age condition
        conditions.append(or_(*(_free_col(c) > 0 for c in query.classes)))
    elif query.age_months is not None:
        conditions.append(or_(*(_capacity_col(c) > 0 for c in query.classes)))
    return conditions


async def nearby(
    db: SessionSource,
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
    initial_radius_m: float = DEFAULT_INITIAL_RADIUS_M,
) -> list[NearbyResult]:
    """The nearest nurseries (great circle) that pass the filters, within `max_radius_m`.

    A lat/lon box on the indexed columns picks candidates; the box doubles until enough candidates lie
    inside its circle (those are then surely the nearest) or the radius reaches `max_radius_m`. Exact
    distances and the (distance, id) order are computed here, so SQLite and PostgreSQL agree.
    """
    query = NearbyQuery.build(
        lat,
        lon,
        age_months=age_months,
        inclusive_only=inclusive_only,
        with_vacancy=with_vacancy,
        service=service,
        limit=limit,
        offset=offset,
        max_radius_m=max_radius_m,
    )
    if query.impossible:
        return []
    filters = _sql_filters(query)
    radius = min(initial_radius_m, query.max_radius_m)
    async with db.session() as session:
        while True:
            box = bounding_box(lat, lon, radius)
            stmt = select(Institution.id, Institution.lat, Institution.lon).where(
                col(Institution.lat).between(box.min_lat, box.max_lat),
                col(Institution.lon).between(box.min_lon, box.max_lon),
                *filters,
            )
            hits: list[tuple[float, int]] = []
            for i, la, lo in (await session.exec(stmt)).all():
                d = haversine_m(lat, lon, la, lo)
                if d <= radius and i is not None:
                    hits.append((d, i))
            if len(hits) >= query.wanted or radius >= query.max_radius_m:
                break
            radius = min(radius * 2, query.max_radius_m)
        page = rank(query, hits)
        if not page:
            return []
        found = await session.exec(select(Institution).where(col(Institution.id).in_([i for _, i in page])))
        by_id = {inst.id: inst for inst in found.all()}
    return [
        make_result(i, by_id[i].to_record(), d, query, is_sample=by_id[i].is_sample)
        for d, i in page
        if i in by_id
    ]


_SCAN_FIELDS = (
    "id",
    "lat",
    "lon",
    "inclusive",
    *SERVICE_COLUMNS.values(),
    *_CAPACITY_FIELDS,
    *_FREE_FIELDS,
)


async def nearby_full_scan(
    db: SessionSource,
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
) -> list[NearbyResult]:
    """Reference for `nearby`: reads every row, filters in Python (`search.matches`), measures all.

    Used by the tests as an oracle and by the benchmark as the baseline; it shares no SQL filter with
    `nearby`.
    """
    query = NearbyQuery.build(
        lat,
        lon,
        age_months=age_months,
        inclusive_only=inclusive_only,
        with_vacancy=with_vacancy,
        service=service,
        limit=limit,
        offset=offset,
        max_radius_m=max_radius_m,
    )
    if query.impossible:
        return []
    columns = [getattr(Institution, f) for f in _SCAN_FIELDS]
    async with db.session() as session:
        rows = (await session.exec(select(*columns))).all()
        light: list[tuple[int, InstitutionRecord]] = []
        for row in rows:
            values = dict(zip(_SCAN_FIELDS, row, strict=True))
            record = InstitutionRecord(name="", credit_code="", lat=values["lat"], lon=values["lon"])
            record.inclusive = values["inclusive"]
            record.services = frozenset(s for s, c in SERVICE_COLUMNS.items() if values[c])
            for f in (*_CAPACITY_FIELDS, *_FREE_FIELDS):
                setattr(record, f, values[f])
            light.append((values["id"], record))
        page = [(r.distance_m, r.institution_id) for r in nearby_reference(query, light)]
        if not page:
            return []
        found = await session.exec(select(Institution).where(col(Institution.id).in_([i for _, i in page])))
        by_id = {inst.id: inst for inst in found.all()}
    return [make_result(i, by_id[i].to_record(), d, query, is_sample=by_id[i].is_sample) for d, i in page]


# ------------------------------------------------------------------------------------- filing lookup


def _like_pattern(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filing_status(institution: Institution, score: float) -> FilingStatus:
    assert institution.id is not None
    return FilingStatus(
        institution_id=institution.id,
        name=institution.name,
        credit_code=institution.credit_code,
        district=institution.district,
        address=institution.address,
        legal_form=institution.legal_form_enum,
        inclusive=institution.inclusive,
        filed_on=institution.filed_on,
        is_sample=institution.is_sample,
        score=score,
    )


async def find_by_name(
    db: SessionSource, text: str, *, limit: int = 5, min_score: float = 0.3, candidates: int = 200
) -> list[FilingStatus]:
    """Nurseries whose name best fits `text` ("XX托育园备案了吗", "/check 名称", or a credit code),
    with their filing (备案) status; best first, at most `limit`.

    A LIKE on the folded name finds names containing the whole query; when that gives too few, names
    sharing one of its distinctive two-character pieces are scored as well, which forgives a wrong
    suffix (托育中心 for 托育园) or a missing district.
    """
    query = strip_question(text)
    key = name_key(query)
    if not key:
        return []
    async with db.session() as session:
        if cc.is_valid(query):
            found = await session.exec(
                select(Institution).where(Institution.credit_code == cc.normalize(query))
            )
            exact = found.first()
            if exact is not None:
                return [_filing_status(exact, 1.0)]
        pool: dict[int, Institution] = {}
        like = col(Institution.name_key).like(_like_pattern(key), escape="\\")
        for inst in (await session.exec(select(Institution).where(like).limit(candidates))).all():
            assert inst.id is not None
            pool[inst.id] = inst
        if len(pool) < limit:
            grams = distinctive_bigrams(key)
            if grams:
                any_gram = or_(
                    *(col(Institution.name_key).like(_like_pattern(g), escape="\\") for g in grams)
                )
                stmt = select(Institution).where(any_gram).limit(candidates)
                for inst in (await session.exec(stmt)).all():
                    assert inst.id is not None
                    pool.setdefault(inst.id, inst)
    scored = [(match_score(key, inst.name_key), inst) for inst in pool.values()]
    scored = [(s, inst) for s, inst in scored if s >= min_score]
    scored.sort(key=lambda p: (-p[0], len(p[1].name), p[1].id or 0))
    return [_filing_status(inst, round(s, 3)) for s, inst in scored[:limit]]


# ------------------------------------------------------------------------------------- claim codes


def _active_code() -> Any:
    return and_(col(ClaimCode.used_at).is_(None), col(ClaimCode.revoked_at).is_(None))


async def claim_codes(
    db: SessionSource,
    institution_ids: Sequence[int] | None = None,
    *,
    reissue: bool = False,
    skip_claimed: bool = True,
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> list[IssuedClaimCode]:
    """Issue one-time claim codes, returning them in plain text this once (only digests are stored).

    Nurseries that already have an active (unused, unrevoked, unexpired) code get none, unless
    `reissue`, which revokes the old code first: the way to replace a lost one. With no ids given,
    every nursery is considered, except (with `skip_claimed`) those some operator has already claimed.
    """
    stamp = _now(now)
    expires_at = stamp + ttl if ttl is not None else None
    stmt = select(Institution.id, Institution.name, Institution.credit_code).order_by(col(Institution.id))
    if institution_ids is not None:
        stmt = stmt.where(col(Institution.id).in_(list(institution_ids)))
    async with db.session() as session:
        targets = [(int(i), n, c) for i, n, c in (await session.exec(stmt)).all() if i is not None]
        if institution_ids is not None:
            missing = set(institution_ids) - {t[0] for t in targets}
            if missing:
                raise InstitutionNotFound(f"no institution with id {sorted(missing)}")
        unexpired = or_(col(ClaimCode.expires_at).is_(None), col(ClaimCode.expires_at) > stamp)
        active_rows = await session.exec(select(ClaimCode.institution_id).where(_active_code(), unexpired))
        active = set(active_rows.all())
        claimed: set[int] = set()
        if skip_claimed and institution_ids is None:
            claimed = set((await session.exec(select(InstitutionOperator.institution_id))).all())
        chosen = [t for t in targets if t[0] not in claimed and (reissue or t[0] not in active)]
        if reissue:
            ids = [t[0] for t in chosen if t[0] in active]
            for start in range(0, len(ids), 1000):
                await session.exec(
                    update(ClaimCode)
                    .where(col(ClaimCode.institution_id).in_(ids[start : start + 1000]), _active_code())
                    .values(revoked_at=stamp)
                )
        plain = await _fresh_codes(session, len(chosen))
        rows = [
            {
                "institution_id": t[0],
                "code_hash": codes.digest(code),
                "created_at": stamp,
                "expires_at": expires_at,
            }
            for t, code in zip(chosen, plain, strict=True)
        ]
        if rows:
            await session.exec(insert(ClaimCode), params=rows)
        await session.commit()
    return [
        IssuedClaimCode(t[0], t[1], t[2], codes.format_code(code), expires_at)
        for t, code in zip(chosen, plain, strict=True)
    ]


async def _fresh_codes(session: AsyncSession, count: int) -> list[str]:
    """`count` new codes whose digests clash with no stored code nor with each other."""
    result: dict[str, str] = {}
    while len(result) < count:
        batch = {codes.digest(c): c for c in (codes.new_code() for _ in range(count - len(result)))}
        batch = {h: c for h, c in batch.items() if h not in result}
        taken: set[str] = set()
        hashes = list(batch)
        for start in range(0, len(hashes), 1000):
            found = await session.exec(
                select(ClaimCode.code_hash).where(col(ClaimCode.code_hash).in_(hashes[start : start + 1000]))
            )
            taken.update(found.all())
        result.update({h: c for h, c in batch.items() if h not in taken})
    return list(result.values())


async def claim(
    db: SessionSource, code: str, telegram_user_id: int, *, now: datetime | None = None
) -> Institution:
    """Link the user to the nursery the code was issued for, using the code up; returns the nursery.

    Raises ClaimError (unknown, used, expired, revoked, already_linked). A user who already operates
    the nursery keeps the code unused, so it can go to a colleague.
    """
    stamp = _now(now)
    canonical = codes.normalize_code(code)
    if canonical is None:
        raise ClaimError("unknown", "no such claim code")
    async with db.session() as session:
        found = await session.exec(select(ClaimCode).where(ClaimCode.code_hash == codes.digest(canonical)))
        row = found.first()
        if row is None:
            raise ClaimError("unknown", "no such claim code")
        if row.used_at is not None:
            raise ClaimError("used", "this claim code has already been used")
        if row.revoked_at is not None:
            raise ClaimError("revoked", "this claim code was replaced by a newer one")
        if row.expires_at is not None and row.expires_at <= stamp:
            raise ClaimError("expired", "this claim code has expired")
        linked = await session.exec(
            select(InstitutionOperator.id).where(
                InstitutionOperator.institution_id == row.institution_id,
                InstitutionOperator.telegram_user_id == telegram_user_id,
            )
        )
        if linked.first() is not None:
            raise ClaimError("already_linked", "you already operate this nursery")
        # The guarded UPDATE is what makes a code single-use when two people race for it.
        result: CursorResult[Any] = await session.exec(
            update(ClaimCode)
            .where(col(ClaimCode.id) == row.id, _active_code())
            .values(used_at=stamp, used_by=telegram_user_id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise ClaimError("used", "this claim code has already been used")
        session.add(
            InstitutionOperator(
                institution_id=row.institution_id,
                telegram_user_id=telegram_user_id,
                claim_code_id=row.id,
                claimed_at=stamp,
            )
        )
        institution = await session.get(Institution, row.institution_id)
        if institution is None:
            raise InstitutionNotFound(f"no institution with id {row.institution_id}")
        await session.flush()
        session.expunge(institution)
        await session.commit()
        return institution


# -------------------------------------------------------------------------------------- operators


async def institutions_for_operator(db: SessionSource, telegram_user_id: int) -> list[Institution]:
    """The nurseries this Telegram user has claimed, by id."""
    stmt = (
        select(Institution)
        .join(InstitutionOperator, col(InstitutionOperator.institution_id) == col(Institution.id))
        .where(InstitutionOperator.telegram_user_id == telegram_user_id)
        .order_by(col(Institution.id))
    )
    async with db.session() as session:
        found = list((await session.exec(stmt)).all())
        for institution in found:
            session.expunge(institution)
        return found


async def operators_of(db: SessionSource, institution_id: int) -> list[int]:
    """Telegram user ids linked to a nursery (for reminders addressed to its operators)."""
    stmt = (
        select(InstitutionOperator.telegram_user_id)
        .where(InstitutionOperator.institution_id == institution_id)
        .order_by(col(InstitutionOperator.id))
    )
    async with db.session() as session:
        return list((await session.exec(stmt)).all())


async def unlink_operator(db: SessionSource, institution_id: int, telegram_user_id: int) -> bool:
    """End a user's link to a nursery (they left it, or staff withdrew it); False if there was none.

    /forget needs nothing here: the operator and claim-code tables declare their personal column.
    """
    async with db.session() as session:
        result: CursorResult[Any] = await session.exec(
            delete(InstitutionOperator).where(
                col(InstitutionOperator.institution_id) == institution_id,
                col(InstitutionOperator.telegram_user_id) == telegram_user_id,
            )
        )
        await session.commit()
        return bool(result.rowcount)


async def update_free_places(
    db: SessionSource,
    institution_id: int,
    free: Mapping[AgeClass | str, int],
    by_user: int,
    *,
    now: datetime | None = None,
    as_staff: bool = False,
) -> Institution:
    """Set free places (空位) per class for a nursery the user operates (or any nursery, ``as_staff``:
    the caller has checked that the user is commission staff); stamps `vacancies_updated_at`.

    Raises InstitutionNotFound, NotAnOperator (checked before anything about the nursery is revealed),
    or VacancyError when a figure is negative, above the class's capacity, or for an unknown class.
    """
    stamp = _now(now)
    try:
        changes = {parse_age_class(k): v for k, v in free.items()}
    except ValueError as exc:
        raise VacancyError(str(exc)) from None
    if not changes:
        raise VacancyError("no class given")
    async with db.session() as session:
        if not as_staff:
            linked = await session.exec(
                select(InstitutionOperator.id).where(
                    InstitutionOperator.institution_id == institution_id,
                    InstitutionOperator.telegram_user_id == by_user,
                )
            )
            if linked.first() is None:
                if await session.get(Institution, institution_id) is None:
                    raise InstitutionNotFound(f"no institution with id {institution_id}")
                raise NotAnOperator("only an operator who claimed this nursery may update it")
        institution = await session.get(Institution, institution_id, with_for_update=True)
        if institution is None:
            raise InstitutionNotFound(f"no institution with id {institution_id}")
        for age_class, value in changes.items():
            capacity = institution.places(age_class).capacity
            if isinstance(value, bool) or not isinstance(value, int):
                raise VacancyError(f"{age_class.value}: free places must be a whole number")
            if value < 0:
                raise VacancyError(f"{age_class.value}: free places cannot be negative")
            if value > capacity:
                raise VacancyError(f"{age_class.value}: {value} free places but capacity is {capacity}")
        for age_class, value in changes.items():
            setattr(institution, f"{age_class.value}_free", value)
        institution.vacancies_updated_at = stamp
        institution.updated_at = stamp
        session.add(institution)
        await session.flush()
        session.expunge(institution)
        await session.commit()
        return institution
