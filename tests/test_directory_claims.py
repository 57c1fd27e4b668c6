"""Claim codes and operators: issuing, claiming once, the refusals, free-place updates only by a
linked operator, and the filing (备案) lookup by name."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from bot.directory import codes, repository
from bot.directory import credit_code as cc
from bot.directory.categories import AgeClass
from bot.directory.models import ClaimCode
from bot.directory.records import InstitutionRecord
from bot.directory.repository import ClaimError, InstitutionNotFound, NotAnOperator, VacancyError
from bot.storage.db import Database

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
OPERATOR, OTHER = 7001, 7002


async def seed(db: Database, *names: str) -> list[int]:
    rng = random.Random(11)
    records = [
        InstitutionRecord(
            name=name,
            credit_code=cc.generate("91", "350203", rng),
            lat=24.48 + i * 0.001,
            lon=118.09,
            toddler_capacity=15,
            toddler_free=1,
            older_capacity=20,
            filed_on=date(2024, 1, 1) if i % 2 == 0 else None,
        )
        for i, name in enumerate(names)
    ]
    await repository.import_rows(db, records, now=NOW)
    ids = []
    for record in records:
        found = await repository.get_by_credit_code(db, record.credit_code)
        assert found is not None and found.id is not None
        ids.append(found.id)
    return ids


async def test_codes_are_issued_once_per_nursery_and_stored_hashed(db: Database) -> None:
    ids = await seed(db, "甲托育园", "乙托育园", "丙托育园")
    issued = await repository.claim_codes(db, now=NOW)
    assert [c.institution_id for c in issued] == ids
    assert all(codes.normalize_code(c.code) for c in issued) and len({c.code for c in issued}) == 3
    assert await repository.claim_codes(db, now=NOW) == []  # each already has an active code
    async with db.session() as session:
        stored = (await session.exec(select(ClaimCode))).all()
    plain = {codes.normalize_code(c.code) for c in issued}
    assert {s.code_hash for s in stored} == {codes.digest(p) for p in plain if p}
    assert not any(p in s.code_hash for s in stored for p in plain if p)


async def test_claim_links_the_operator_once(db: Database) -> None:
    (nursery,) = await seed(db, "小树苗托育园")
    (issued,) = await repository.claim_codes(db, now=NOW)
    institution = await repository.claim(db, issued.code.lower().replace("-", " "), OPERATOR, now=NOW)
    assert institution.id == nursery and institution.name == "小树苗托育园"
    assert [i.id for i in await repository.institutions_for_operator(db, OPERATOR)] == [nursery]
    assert await repository.operators_of(db, nursery) == [OPERATOR]

    with pytest.raises(ClaimError) as used:
        await repository.claim(db, issued.code, OTHER, now=NOW)
    assert used.value.reason == "used"
    assert await repository.institutions_for_operator(db, OTHER) == []

    # a claimed nursery gets no new code by default, but can be given one for a colleague
    assert await repository.claim_codes(db, now=NOW) == []
    (second,) = await repository.claim_codes(db, [nursery], now=NOW)
    with pytest.raises(ClaimError) as linked:
        await repository.claim(db, second.code, OPERATOR, now=NOW)
    assert linked.value.reason == "already_linked"
    await repository.claim(db, second.code, OTHER, now=NOW)  # not used up by the refusal above
    assert await repository.operators_of(db, nursery) == [OPERATOR, OTHER]

    assert await repository.unlink_operator(db, nursery, OTHER)
    assert not await repository.unlink_operator(db, nursery, OTHER)
    assert await repository.operators_of(db, nursery) == [OPERATOR]


@pytest.mark.parametrize("typed", ["", "ABCD", "ABCD-EFG0", "2345-6789"])
async def test_unknown_codes(db: Database, typed: str) -> None:
    await seed(db, "甲托育园")
    await repository.claim_codes(db, now=NOW)
    with pytest.raises(ClaimError) as info:
        await repository.claim(db, typed, OPERATOR, now=NOW)
    assert info.value.reason == "unknown"


async def test_expired_and_reissued_codes(db: Database) -> None:
    (nursery,) = await seed(db, "甲托育园")
    (old,) = await repository.claim_codes(db, ttl=timedelta(days=30), now=NOW)
    assert old.expires_at == NOW + timedelta(days=30)
    later = NOW + timedelta(days=31)
    with pytest.raises(ClaimError) as expired:
        await repository.claim(db, old.code, OPERATOR, now=later)
    assert expired.value.reason == "expired"
    # an expired code no longer counts as active, so a plain run issues a new one
    (fresh,) = await repository.claim_codes(db, now=later)
    (replacement,) = await repository.claim_codes(db, [nursery], reissue=True, now=later)
    with pytest.raises(ClaimError) as revoked:
        await repository.claim(db, fresh.code, OPERATOR, now=later)
    assert revoked.value.reason == "revoked"
    assert (await repository.claim(db, replacement.code, OPERATOR, now=later)).id == nursery
    with pytest.raises(InstitutionNotFound):
        await repository.claim_codes(db, [nursery, 99999], now=later)


async def test_vacancy_update_only_by_a_linked_operator(db: Database) -> None:
    nursery, other = await seed(db, "甲托育园", "乙托育园")
    (issued,) = await repository.claim_codes(db, [nursery], now=NOW)
    with pytest.raises(NotAnOperator):
        await repository.update_free_places(db, nursery, {AgeClass.TODDLER: 3}, OPERATOR, now=NOW)
    await repository.claim(db, issued.code, OPERATOR, now=NOW)

    later = NOW + timedelta(hours=3)
    updated = await repository.update_free_places(
        db, nursery, {"托小班": 5, AgeClass.OLDER: 0}, OPERATOR, now=later
    )
    assert (updated.toddler_free, updated.older_free, updated.vacancies_updated_at) == (5, 0, later)
    stored = await repository.get(db, nursery)
    assert stored is not None and stored.toddler_free == 5 and stored.vacancies_updated_at == later

    with pytest.raises(NotAnOperator):
        await repository.update_free_places(db, other, {AgeClass.TODDLER: 1}, OPERATOR, now=later)
    with pytest.raises(NotAnOperator):
        await repository.update_free_places(db, nursery, {AgeClass.TODDLER: 1}, OTHER, now=later)
    with pytest.raises(InstitutionNotFound):
        await repository.update_free_places(db, 99999, {AgeClass.TODDLER: 1}, OPERATOR, now=later)
    for bad in ({AgeClass.TODDLER: 16}, {AgeClass.TODDLER: -1}, {AgeClass.INFANT: 1}, {"大班": 1}, {}):
        with pytest.raises(VacancyError):
            await repository.update_free_places(db, nursery, bad, OPERATOR, now=later)  # type: ignore[arg-type]
    stored = await repository.get(db, nursery)
    assert stored is not None and stored.toddler_free == 5  # refused updates change nothing


async def test_filing_lookup_by_name(db: Database) -> None:
    await seed(db, "厦门市思明区小树苗托育园", "彩虹托育中心", "小树苗幼儿园（托班）", "向日葵婴幼儿照护中心")

    async def lookup(text: str) -> list[tuple[str, bool]]:
        return [(s.name, s.filed) for s in await repository.find_by_name(db, text)]

    assert (await lookup("小树苗托育园备案了吗？"))[0] == ("厦门市思明区小树苗托育园", True)
    assert [n for n, _ in await lookup("/check 小树苗")] == [
        "小树苗幼儿园（托班）",
        "厦门市思明区小树苗托育园",
    ]
    assert await lookup("彩虹托育中心有没有备案") == [("彩虹托育中心", False)]
    assert (await lookup("請問彩虹托育中心備案了嗎"))[0] == ("彩虹托育中心", False)
    # a wrong suffix still finds it
    assert (await lookup("向日葵托育园"))[0][0] == "向日葵婴幼儿照护中心"
    assert await lookup("完全不存在的机构") == []
    assert await lookup("备案了吗") == []
    statuses = await repository.find_by_name(db, "小树苗托育园")
    assert statuses[0].score > 0.7 and statuses[0].filed_on == date(2024, 1, 1)
    code = statuses[0].credit_code
    (by_code,) = await repository.find_by_name(db, f"/check {code.lower()}")
    assert by_code.credit_code == code and by_code.score == 1.0


async def test_filing_lookup_escapes_like_wildcards(db: Database) -> None:
    await seed(db, "百分之百_托育园", "普通托育园")
    assert [s.name for s in await repository.find_by_name(db, "%")] == []
    assert [s.name for s in await repository.find_by_name(db, "百分之百_")] == ["百分之百_托育园"]
