"""End to end: the /leave walk-through and free-text leave questions through the real Application."""

from __future__ import annotations

import datetime as dt

from bot.simulator import replies_text
from tests.conftest import ChatFactory, onboard


async def test_leave_walk_through(chat: ChatFactory) -> None:
    session = chat(5001)
    await onboard(session, "parent", "思明区")
    calls = await session.send("/leave")
    # The city's own province is offered first.
    assert calls[-1].buttons[0]["callback_data"] == "lv:p:福建"
    await session.press("lv:p:浙江")
    calls = await session.send("2026-03-05")
    assert any(b["callback_data"] == "lv:o:2" for b in calls[-1].buttons)
    await session.press("lv:o:2")
    await session.press("lv:b:1")
    calls = await session.press("lv:d:0")
    text = replies_text(calls)
    # FACTS.md: Zhejiang gives 188 days from the second child; the end is the start plus 187 days.
    assert "188" in text
    assert (dt.date(2026, 3, 5) + dt.timedelta(days=187)).isoformat() in text
    assert "浙江省人口与计划生育条例" in text


async def test_leave_walk_through_rejects_bad_input(chat: ChatFactory) -> None:
    session = chat(5002, "en")
    await session.send("/leave")
    calls = await session.send("Atlantis")
    assert "province" in calls[-1].text.lower()
    calls = await session.send("广东省")
    assert "date" in calls[-1].text.lower()
    calls = await session.send("2026-13-45")
    assert "2026-03-05" in calls[-1].text  # says what to enter
    calls = await session.send("1999-01-01")
    assert "between" in calls[-1].text
    calls = await session.send("2026年12月1日")
    assert calls[-1].buttons
    calls = await session.send("three")
    assert "/cancel" in calls[-1].text
    calls = await session.send("/cancel")
    assert "/leave" in calls[-1].text
    # After cancelling, text is a question again.
    calls = await session.send("广东陪产假几天")
    assert "15" in calls[-1].text


async def test_free_text_leave_question_uses_the_table(chat: ChatFactory) -> None:
    calls = await chat(5003).send("我在浙江生二胎产假多少天")
    assert "188" in calls[-1].text and "/leave" in calls[-1].text
    calls = await chat(5003).send("广东陪产假几天")
    assert "15" in calls[-1].text and "广东省人口与计划生育条例" in calls[-1].text


async def test_unknown_region_claims_nothing(chat: ChatFactory) -> None:
    calls = await chat(5004).send("西藏产假多少天")
    text = calls[-1].text
    assert "98" in text and "12320" in text
    assert "158" not in text
