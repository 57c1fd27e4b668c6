"""/tasks, the reminder buttons and /overdue, end to end through the real Application and the
in-process Bot API, with reminders planned and delivered by the real planner and dispatcher."""

from __future__ import annotations

import datetime as dt

from bot.app import CareBotApp
from bot.clock import FakeClock
from bot.services import Services
from bot.simulator import replies_text
from bot.transport import InProcessBotAPI
from schedules.compliance import Compliance
from schedules.dispatcher import Dispatcher
from schedules.pacing import VirtualTime
from tests.conftest import ADMIN_ID, ChatFactory
from tests.schedules_support import SHANGHAI, add_nursery, add_user


async def deliver(services: Services, app: CareBotApp) -> None:
    compliance = Compliance.from_settings(services.db, services.clock, services.settings)
    await compliance.plan()
    clock = services.clock
    assert isinstance(clock, FakeClock)
    vt = VirtualTime(on_advance=lambda s: clock.advance(seconds=s))
    dispatcher = Dispatcher(services.db, clock, app.bot, rate=25, monotonic=vt.monotonic, sleep=vt.sleep)
    await dispatcher.run_until_idle()


async def test_an_operator_sees_their_deadlines_and_marks_one_done(
    services: Services, app: CareBotApp, api: InProcessBotAPI, chat: ChatFactory, clock: FakeClock
) -> None:
    await add_user(services.db, 1001, language="en")
    institution = await add_nursery(services.db, operators=(1001,), name="Sunshine Nursery")
    clock.set(dt.datetime(2027, 6, 20, 10, tzinfo=SHANGHAI))
    session = chat(1001, "en")

    text = replies_text(await session.send("/tasks"))
    assert "Your deadlines:" in text and "Enterprise annual report — Sunshine Nursery" in text
    assert "Due June 30, 2027 (in 10 days)" in text

    await deliver(services, app)
    reminder = session.last_with_buttons()
    assert reminder is not None and reminder.method == "sendMessage"
    done = f"tk:d:{institution}:annual_report:2027"
    assert done in [b["callback_data"] for b in reminder.buttons]

    calls = await session.press(done, message=reminder)
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answers and "Marked done: Enterprise annual report" in str(answers[0].params.get("text"))

    again = await session.press_data(done)
    assert "Already marked done" in str(again[0].params.get("text"))
    assert "✓ Enterprise annual report" in replies_text(await session.send("/tasks"))


async def test_remind_me_later_and_refusals(
    services: Services, app: CareBotApp, api: InProcessBotAPI, chat: ChatFactory, clock: FakeClock
) -> None:
    await add_user(services.db, 1001, language="en")
    institution = await add_nursery(
        services.db, operators=(1001,), registered_on=dt.date(2027, 5, 1), filed_on=None
    )
    clock.set(dt.datetime(2027, 6, 20, 10, tzinfo=SHANGHAI))
    await deliver(services, app)
    session = chat(1001, "en")
    buttons = [b["callback_data"] for b in session.buttons()]
    assert f"tk:d:{institution}:filing:2027-05-01" not in buttons  # filing is done by filing, not by a press
    calls = await session.press(f"tk:l:{institution}:filing:2027-05-01")
    assert "I'll remind you again on June 21, 2027" in str(calls[0].params.get("text"))

    stranger = chat(2002, "en")
    await add_user(services.db, 2002, language="en")
    calls = await stranger.press_data(f"tk:l:{institution}:filing:2027-05-01")
    assert "Only an operator" in str(calls[0].params.get("text")) and calls[0].params.get("show_alert")
    calls = await stranger.press_data("tk:d:notanumber:x:y")
    assert [c.method for c in calls] == ["answerCallbackQuery"]

    assert "No deadlines to show" in replies_text(await stranger.send("/tasks"))


async def test_commission_staff_see_overdue_nurseries_by_district(
    services: Services, app: CareBotApp, chat: ChatFactory, clock: FakeClock
) -> None:
    await add_user(services.db, ADMIN_ID, language="en", role="commission")
    await add_nursery(
        services.db, name="Lakeside", registered_on=dt.date(2027, 1, 1), filed_on=None, district="湖里区"
    )
    await add_nursery(
        services.db, name="Hilltop", registered_on=dt.date(2027, 1, 2), filed_on=None, district="思明区"
    )
    clock.set(dt.datetime(2027, 3, 10, 10, tzinfo=SHANGHAI))
    text = replies_text(await chat(ADMIN_ID, "en").send("/overdue"))
    assert text.startswith("Overdue nurseries: 2")
    assert text.index("湖里区 (1)") < text.index("• Filing (备案) with the health commission — Lakeside")
    assert "思明区 (1)" in text and "Overdue since" in text

    await add_user(services.db, 1001, language="en")
    assert (
        replies_text(await chat(1001, "en").send("/overdue"))
        == "This command is for health commission staff."
    )
