"""End to end: /nearby by location and district, venues, paging, filing look-ups, /claim and /vacancy."""

from __future__ import annotations

import pytest

from bot.clock import FakeClock
from bot.directory import repository
from bot.services import Services
from tests.conftest import ChatFactory

XIAMEN_SIMING = (24.4798, 118.0894)


@pytest.fixture
async def sample(services: Services) -> None:
    await repository.load_sample(services.db, now=services.clock.now())


@pytest.mark.usefixtures("sample")
async def test_shared_location_gets_a_useful_list(chat: ChatFactory, services: Services) -> None:
    session = chat(6001)
    calls = await session.send("/nearby")
    await session.press("nb:a:18")
    calls = await session.send_location(*XIAMEN_SIMING)
    listing = calls[-1]
    expected = await repository.nearby(services.db, *XIAMEN_SIMING, age_months=18, limit=5)
    assert expected
    # The nearest nursery for that age is listed first, with its distance and the sample-data warning.
    assert listing.text.index(expected[0].name) < listing.text.index(expected[-1].name)
    assert "km" in listing.text or " m" in listing.text
    assert "示例" in listing.text or "Sample" in listing.text
    venue_buttons = [b for b in listing.buttons if b["callback_data"].startswith("nb:v:")]
    assert len(venue_buttons) == len(expected)
    calls = await session.press(venue_buttons[0]["callback_data"])
    venue = next(c for c in calls if c.method == "sendVenue")
    assert venue.params["title"] == expected[0].name
    more = [b for b in listing.buttons if b["callback_data"].startswith("nb:m:")]
    assert more
    calls = await session.press(more[0]["callback_data"])
    following = await repository.nearby(services.db, *XIAMEN_SIMING, age_months=18, limit=5, offset=5)
    assert following and following[0].name in calls[-1].text


@pytest.mark.usefixtures("sample")
async def test_district_picker_and_nothing_nearby(chat: ChatFactory) -> None:
    session = chat(6002, "en")
    await session.send("/nearby")
    calls = await session.press("nb:a:x")
    assert any(b.get("request_location") for c in calls for b in c.keyboard)
    calls = await session.press("nb:d:x:湖里区")
    assert "湖里" in calls[-1].text
    # Far from Xiamen (Urumqi): nothing within 30 km, districts offered.
    calls = await session.send_location(43.8256, 87.6168)
    assert "30 km" in calls[-1].text
    assert any(b["callback_data"].startswith("nb:d:") for b in calls[-1].buttons)


@pytest.mark.usefixtures("sample")
async def test_filing_lookup_by_command_and_question(chat: ChatFactory, services: Services) -> None:
    records = await repository.export_rows(services.db)
    filed = next(r for r in records if r.filed_on is not None)
    unfiled = next(r for r in records if r.filed_on is None)
    calls = await chat(6003).send(f"/check {filed.name}")
    assert filed.filed_on is not None and filed.filed_on.isoformat() in calls[-1].text
    calls = await chat(6003).send(f"{unfiled.name}备案了吗")
    assert unfiled.name in calls[-1].text and "没有" in calls[-1].text
    # A how-to question about filing goes to the knowledge base instead.
    calls = await chat(6003).send("托育机构怎么备案？")
    assert any(b["callback_data"].startswith("fb:") for b in calls[-1].buttons)


@pytest.mark.usefixtures("sample")
async def test_claim_then_update_vacancy(chat: ChatFactory, services: Services) -> None:
    records = await repository.export_rows(services.db)
    target = await repository.get_by_credit_code(services.db, records[0].credit_code)
    assert target is not None and target.id is not None
    target_id = target.id
    codes = await repository.claim_codes(services.db, [target_id], now=services.clock.now())
    operator = chat(6004)
    # Claiming works as the very first message an operator sends.
    calls = await operator.send(f"/claim {codes[0].code}")
    assert target.name in calls[-1].text
    calls = await operator.send(f"/claim {codes[0].code}")
    assert "/claim" not in calls[-1].text  # already linked, said plainly
    stranger = chat(6005)
    calls = await stranger.send(f"/claim {codes[0].code}")
    assert calls[-1].text

    calls = await operator.send("/vacancy")
    card = calls[-1]
    plus = next(b for b in card.buttons if b["callback_data"].endswith(":+1"))
    before = await repository.get(services.db, target_id)
    assert before is not None
    cls = plus["callback_data"].split(":")[2]
    await operator.press(plus["callback_data"])
    after = await repository.get(services.db, target_id)
    assert after is not None and after.vacancies_updated_at is not None
    old = getattr(before, f"{cls}_free") or 0
    assert getattr(after, f"{cls}_free") == min(old + 1, getattr(after, f"{cls}_capacity"))
    # Someone else pressing the same (forged) button changes nothing.
    calls = await stranger.press_data(plus["callback_data"])
    again = await repository.get(services.db, target_id)
    assert again is not None and getattr(again, f"{cls}_free") == getattr(after, f"{cls}_free")
    assert any(c.method == "answerCallbackQuery" and c.params.get("show_alert") for c in calls)


@pytest.mark.usefixtures("sample")
async def test_staff_see_city_figures_and_unanswered_questions(chat: ChatFactory, services: Services) -> None:
    from tests.conftest import ADMIN_ID

    await chat(6006).send("帮我写一首关于秋天的诗")
    calls = await chat(ADMIN_ID, "en").send("/stats")
    text = calls[-1].text
    figures = await repository.district_figures(services.db)
    assert str(sum(d.places for d in figures)) in text
    assert "70" in text and "4.5" in text and "CAREBOT_POPULATION" in text
    assert "帮我写一首关于秋天的诗" in text
    assert "sample" in text
    calls = await chat(6007, "en").send("/stats")
    assert "staff" in calls[-1].text and "帮我写" not in calls[-1].text


@pytest.mark.usefixtures("sample")
async def test_claim_codes_that_do_not_work_are_limited_per_person(
    chat: ChatFactory, services: Services, clock: FakeClock
) -> None:
    records = await repository.export_rows(services.db)
    target = await repository.get_by_credit_code(services.db, records[1].credit_code)
    assert target is not None and target.id is not None
    (issued,) = await repository.claim_codes(services.db, [target.id], now=clock.now())
    guesser = chat(6010)
    for attempt in range(5):
        calls = await guesser.send(f"/claim ZZZZ-ZZ{attempt:02d}")
        assert "not valid" in calls[-1].text or "无效" in calls[-1].text
    clock.advance(minutes=10)
    calls = await guesser.send(f"/claim {issued.code}")  # even a good code waits now
    held = calls[-1].text
    assert target.name not in held and "10:00" in held  # an hour after the first failure, Shanghai time
    assert await repository.operators_of(services.db, target.id) == []
    calls = await chat(6011).send("/claim ZZZZ-ZZZZ")  # someone else is not held up
    assert "10:00" not in calls[-1].text
    clock.advance(minutes=51)
    calls = await guesser.send(f"/claim {issued.code}")
    assert target.name in calls[-1].text


@pytest.mark.usefixtures("sample")
async def test_commission_staff_correct_a_nurserys_free_places(chat: ChatFactory, services: Services) -> None:
    from bot.storage.models import AuditEvent
    from tests.conftest import ADMIN_ID

    records = await repository.export_rows(services.db)
    target = await repository.get_by_credit_code(services.db, records[2].credit_code)
    assert target is not None and target.id is not None
    staff = chat(ADMIN_ID, "en")
    calls = await staff.send("/vacancy")
    assert "credit code" in calls[-1].text
    calls = await staff.send("/vacancy 91350200MA00000000")
    assert "No nursery" in calls[-1].text
    calls = await staff.send(f"/vacancy {target.credit_code.lower()}")
    card = calls[-1]
    assert target.name in card.text
    zero = next(b for b in card.buttons if b["callback_data"].endswith(":=0"))
    await staff.press(zero["callback_data"])
    cls = zero["callback_data"].split(":")[2]
    after = await repository.get(services.db, target.id)
    assert after is not None and getattr(after, f"{cls}_free") == 0 and after.vacancies_updated_at is not None
    async with services.db.session() as session:
        from sqlmodel import select

        (event,) = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "institution.vacancy"))
        ).all()
    assert (
        event.actor_id == ADMIN_ID
        and event.target == target.credit_code
        and '"staff": true' in (event.details or "")
    )
    # Anyone else gets neither the card nor the change.
    stranger = chat(6020, "en")
    calls = await stranger.send(f"/vacancy {target.credit_code}")
    assert "Only commission staff" in calls[-1].text
    plus = next(b for b in card.buttons if b["callback_data"].endswith(":+1"))
    calls = await stranger.press_data(plus["callback_data"])
    assert any(c.method == "answerCallbackQuery" and c.params.get("show_alert") for c in calls)
    unchanged = await repository.get(services.db, target.id)
    assert unchanged is not None and unchanged.vacancies_updated_at == after.vacancies_updated_at
