"""/settings buttons at their edges: clearing the district, and buttons of an older /settings pressed after
the profile changed (consent withdrawn, or every choice forgotten)."""

from __future__ import annotations

from bot.services import Services
from bot.simulator import replies_text
from tests.conftest import ChatFactory, onboard

NO_LONGER_VALID = "这个选项已失效，请重新发送 /start。"  # onboard() chose Simplified Chinese


async def test_the_district_can_be_cleared_from_settings(chat: ChatFactory, services: Services) -> None:
    session = chat(2101, "en")
    await onboard(session, "parent", "思明区")
    await session.send("/settings")
    await session.press("st:district")
    calls = await session.press("st:d:-")
    assert "您的所在区已改为：未填写。" in replies_text(calls)
    profile = await services.accounts.get(2101)
    assert profile is not None and profile.district is None and profile.consented


async def test_old_settings_buttons_after_consent_is_withdrawn_get_an_answer(
    chat: ChatFactory, services: Services
) -> None:
    session = chat(2102, "en")
    await onboard(session, "parent", "思明区")
    await session.send("/settings")
    await session.press("st:withdraw")
    for data in ("st:d:湖里区", "st:d:-", "st:d:", "ob:d:parent"):
        calls = await session.press_data(data)
        assert NO_LONGER_VALID in replies_text(calls), data
    profile = await services.accounts.get(2102)
    assert profile is not None and profile.district is None and not profile.consented


async def test_an_old_guidance_button_after_forget_gets_an_answer(
    chat: ChatFactory, services: Services
) -> None:
    session = chat(2103, "en")
    await onboard(session, "parent", "思明区")
    await services.accounts.forget(2103)
    calls = await session.press_data("st:bc")
    # Nothing is stored any more, the language included: the reply follows Telegram's language (en).
    assert "That choice is no longer valid. Please send /start again." in replies_text(calls)
