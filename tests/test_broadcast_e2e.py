"""Broadcasts through the real Application and the in-process Bot API: the staff flow and its two-step
confirmation, refusals for everyone else, grants, cancelling, progress, delivery through faults."""

from __future__ import annotations

import datetime as dt
import json

from bot import audit
from bot.app import CareBotApp, build_application
from bot.clock import FakeClock
from bot.menu import public_commands, staff_commands
from bot.services import Services
from bot.settings import Settings
from bot.simulator import ChatSession, SimulatedUser, replies_text
from bot.storage.db import Database
from bot.transport import ApiCall, InProcessBotAPI, Reply, network_failure, timeout_failure
from handlers.broadcast import update_progress
from schedules.broadcasts import Audience, AudienceGroup, Campaigns, CampaignState
from schedules.outbox import Outbox, OutboxState
from tests.conftest import ADMIN_ID, ChatFactory, onboard
from tests.schedules_support import make_dispatcher
from tests.test_broadcasts import people

TEXT = "<b>流感季</b>：请到社区卫生服务中心为孩子接种流感疫苗。"


def campaigns_of(services: Services) -> Campaigns:
    return Campaigns(services.db, services.clock, services.settings)


def last_text(calls: list[ApiCall]) -> str:
    texts = [c.text for c in calls if c.method in ("sendMessage", "editMessageText")]
    return texts[-1] if texts else ""


def alerts(calls: list[ApiCall]) -> list[str]:
    return [str(c.params.get("text") or "") for c in calls if c.method == "answerCallbackQuery"]


async def newest_campaign(services: Services) -> int:
    from sqlalchemy import func, select

    from schedules.broadcasts import BROADCASTS

    async with services.db.engine.connect() as conn:
        return int((await conn.execute(select(func.max(BROADCASTS.c.id)))).scalar() or 0)


async def test_staff_write_target_preview_confirm_and_follow(
    chat: ChatFactory,
    services: Services,
    api: InProcessBotAPI,
    app: CareBotApp,
    db: Database,
    clock: FakeClock,
) -> None:
    for user_id in (3001, 3002, 3003):
        await onboard(chat(user_id), "parent", "思明区")
    await onboard(chat(3101), "operator", "湖里区")
    admin = chat(ADMIN_ID, "en")

    calls = await admin.send("/broadcast")
    assert "Send the text of the broadcast" in last_text(calls)
    calls = await admin.send("<b>Flu season<br></b>")
    assert "Telegram would refuse this formatting: <br> is not supported" in last_text(calls)
    assert await newest_campaign(services) == 0
    calls = await admin.send(TEXT)

    preview, panel = (c for c in calls if c.method == "sendMessage")
    cid = await newest_campaign(services)
    assert preview.text == TEXT and preview.params.get("parse_mode") == "HTML"
    assert [b["text"] for b in preview.buttons] == ["Turn these messages off"]
    assert "Recipients: 5." in panel.text and "everyone" in panel.text  # the admin started the bot too
    calls = await admin.press(f"bc:pv:{cid}")
    assert "turn the commission's broadcasts off" in alerts(calls)[0]

    calls = await admin.press(f"bc:g:{cid}:parents")
    assert "Recipients: 3." in last_text(calls) and "✓ parents and carers" in [
        b["text"] for b in calls[-1].buttons
    ]
    calls = await admin.press(f"bc:d:{cid}:1")  # 湖里区: no parents there
    assert "Recipients: 0." in last_text(calls)
    calls = await admin.press(f"bc:d:{cid}:*")
    assert "Recipients: 3." in last_text(calls)

    # Step one shows everything and sends nothing.
    calls = await admin.press(f"bc:ok:{cid}")
    review = last_text(calls)
    assert "Please check broadcast" in review and "Recipients: 3." in review and "Stars" not in review
    assert [b["text"] for b in calls[-1].buttons] == ["Yes, send to 3 people", "← Back"]
    campaigns = campaigns_of(services)
    assert (await campaigns.require(cid)).state is CampaignState.DRAFT
    assert (await Outbox(db, clock).counts(campaign_id=cid))[OutboxState.PENDING] == 0

    # Step two: scheduled, and the same message becomes the progress report.
    calls = await admin.press(f"bc:go:{cid}")
    campaign = await campaigns.require(cid)
    assert campaign.state is CampaignState.SCHEDULED and campaign.progress_message_id is not None
    assert f"Broadcast #{cid}: scheduled" in last_text(calls)
    assert campaign.audience == Audience(AudienceGroup.PARENTS)
    assert (await admin.press(f"bc:go:{cid}")) and (
        await campaigns.require(cid)
    ).state is CampaignState.SCHEDULED

    await campaigns.advance()
    dispatcher, _vt, _log = make_dispatcher(db, clock, api)
    report = await dispatcher.run_until_idle()
    assert report.sent == 3
    for user_id in (3001, 3002, 3003):
        (got,) = [c for c in api.sent(user_id) if c.text == TEXT]
        assert got.params["parse_mode"] == "HTML"
        assert [b["callback_data"] for b in got.buttons] == ["sub:off"]
    assert not [c for c in api.sent(3101) if c.text == TEXT]

    # A recipient turns broadcasts off with the button under the message.
    parent = ChatSession(app, api, SimulatedUser(3001))
    await parent.press("sub:off")
    assert await campaigns.count(Audience(AudienceGroup.PARENTS)) == 2

    before = api.last_seq
    assert await update_progress(app.bot, services, cid) is True
    (edit,) = api.calls_since(before)
    assert edit.method == "editMessageText" and edit.chat_id == ADMIN_ID
    assert f"Broadcast #{cid}: done" in edit.text and "Sent 3 of 3" in edit.text and not edit.buttons
    before = api.last_seq
    assert await update_progress(app.bot, services, cid) is True
    assert api.calls_since(before) == []  # the final edit happens once

    calls = await admin.send("/broadcasts")
    assert f"Broadcast #{cid}: done" in last_text(calls) and "blocked 0" in last_text(calls)


async def test_progress_updates_on_the_fake_clock(
    chat: ChatFactory,
    services: Services,
    api: InProcessBotAPI,
    app: CareBotApp,
    db: Database,
    clock: FakeClock,
) -> None:
    await people(db, range(5000, 5010))
    admin = chat(ADMIN_ID, "en")
    await admin.send("/broadcast")
    await admin.send("育儿指导：冬季保暖")
    cid = await newest_campaign(services)
    await admin.press(f"bc:ok:{cid}")
    await admin.press(f"bc:go:{cid}")
    campaigns = campaigns_of(services)
    await campaigns.advance()
    outbox = Outbox(db, clock)
    for entry in await outbox.claim("w", 4):
        await outbox.mark_sent(entry.id, 1)

    before = api.last_seq
    assert await update_progress(app.bot, services, cid) is False
    assert api.calls_since(before) == []  # the confirmation was shown a moment ago
    clock.advance(seconds=30)
    assert await update_progress(app.bot, services, cid) is False
    (edit,) = api.calls_since(before)
    assert "Sent 4 of 11 · failed 0 · blocked 0 · remaining 7" in edit.text
    finish = clock.now() + dt.timedelta(seconds=7 / services.settings.broadcast_rate)
    assert f"Estimated finish: {finish.astimezone(services.settings.tz):%Y-%m-%d %H:%M}" in edit.text
    assert [b["callback_data"] for b in edit.buttons] == [f"bc:r:{cid}", f"bc:c:{cid}"]
    before = api.last_seq
    clock.advance(seconds=5)
    assert await update_progress(app.bot, services, cid) is False
    assert api.calls_since(before) == []  # not more often than every 25 s


async def test_choosing_a_time(chat: ChatFactory, services: Services, db: Database) -> None:
    await people(db, range(5100, 5103))
    admin = chat(ADMIN_ID, "en")
    await admin.send("/broadcast")
    await admin.send("明天上午的通知")
    cid = await newest_campaign(services)
    calls = await admin.press(f"bc:at:{cid}")
    assert "When should broadcast" in last_text(calls)
    calls = await admin.send("whenever")
    assert "could not read that time" in last_text(calls)
    calls = await admin.send("2026-11-24 09:00")
    assert "When: 2026-11-24 09:00 (Asia/Shanghai)" in last_text(calls)
    campaign = await campaigns_of(services).require(cid)
    assert campaign.scheduled_at == dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
    calls = await admin.press(f"bc:w:{cid}:now")
    assert "as soon as you confirm" in last_text(calls)
    await admin.press(f"bc:w:{cid}:am")
    calls = await admin.press(f"bc:ok:{cid}")
    assert "When: 2026-11-24 09:00" in last_text(calls)
    await admin.press(f"bc:go:{cid}")
    campaign = await campaigns_of(services).require(cid)
    assert campaign.state is CampaignState.SCHEDULED
    assert campaign.scheduled_at == dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
    assert (await campaigns_of(services).advance()).queued == 0  # a day ahead: nothing queued yet


async def test_editing_the_text_and_discarding(chat: ChatFactory, services: Services) -> None:
    admin = chat(ADMIN_ID, "en")
    await admin.send("/broadcast")
    await admin.send("first")
    cid = await newest_campaign(services)
    await admin.press(f"bc:tx:{cid}")
    calls = await admin.send("<i>second</i>")
    assert [c.text for c in calls if c.params.get("parse_mode") == "HTML"] == ["<i>second</i>"]
    assert (await campaigns_of(services).require(cid)).text == "<i>second</i>"
    calls = await admin.press(f"bc:x:{cid}")
    assert "discarded" in last_text(calls)
    assert await campaigns_of(services).get(cid) is None
    calls = await admin.send("/broadcast")
    calls = await admin.send("/cancel")
    assert "Nothing was sent" in last_text(calls)


async def test_paid_broadcasting_shows_the_stars_estimate(
    settings: Settings, db: Database, clock: FakeClock, api: InProcessBotAPI
) -> None:
    paid = Services.build(
        settings.model_copy(update={"paid_broadcast": True, "paid_broadcast_rate": 100.0}), db=db, clock=clock
    )
    await people(db, range(1, 1000))  # and the admin: 1,000
    application = build_application(paid, request=api)
    async with application:
        admin = ChatSession(application, api, SimulatedUser(ADMIN_ID, language_code="en"))
        await admin.send("/broadcast")
        await admin.send("Paid test")
        cid = await newest_campaign(paid)
        calls = await admin.press(f"bc:ok:{cid}")
    text = last_text(calls)
    # 1,000 messages at 100 a second: 30 of every 100 are free, 700 cost 0.1 Star each.
    assert "about 70 Telegram Stars for 700 messages" in text and "estimate" in text
    assert "1,000" in text and "10 seconds" in text


async def test_nobody_else_can_reach_any_step(
    chat: ChatFactory, services: Services, db: Database, clock: FakeClock, app: CareBotApp
) -> None:
    await people(db, range(7000, 7005))
    campaigns = campaigns_of(services)
    draft = await campaigns.create_draft(ADMIN_ID, "草稿")
    running = await campaigns.create("进行中", Audience())
    await campaigns.advance()
    stranger = chat(4242, "en")
    await onboard(stranger, "parent", "思明区", "en")

    calls = await stranger.send("/broadcast")
    assert "for health commission staff" in replies_text(calls)
    await stranger.send("<b>我的群发</b>")  # not taken as a broadcast text: no conversation started
    await stranger.send("/broadcasts")
    await stranger.send("/grant 4242")
    await stranger.send("/revoke 4242")
    forged = [
        f"bc:{verb}:{draft.id}{arg}"
        for verb, arg in [
            ("g", ":parents"), ("d", ":0"), ("d", ":*"), ("l", ":en"), ("w", ":now"), ("w", ":am"),
            ("at", ""), ("tx", ""), ("p", ""), ("ok", ""), ("go", ""), ("x", ""), ("pv", ""),
        ]
    ] + [f"bc:{verb}:{running.id}" for verb in ("c", "cc", "k", "r")] + ["bc:go:999", "bc:nonsense"]  # fmt: skip
    for data in forged:
        calls = await stranger.press_data(data)
        assert alerts(calls), data  # answered, never a spinner
    assert await newest_campaign(services) == running.id
    kept = await campaigns.require(draft.id)
    assert kept.state is CampaignState.DRAFT and kept.audience == Audience() and kept.scheduled_at is None
    assert (await campaigns.require(running.id)).state is CampaignState.SENDING
    assert (await Outbox(db, clock).counts(campaign_id=running.id))[OutboxState.PENDING] == 5
    assert not await campaigns.staff.is_staff(4242)

    events = [e for e in await audit.recent(db, limit=100) if e.actor_id == 4242]
    actions = [e.action for e in events]
    assert actions.count("broadcast.refused") == 2 + len(forged)
    assert actions.count("staff.refused") == 2
    assert {e.target for e in events} >= {"/broadcast", "/broadcasts", *forged}

    # The menu and /help never show the staff commands to them.
    assert "broadcast" not in [c.name for c in public_commands()]
    assert "broadcast" in [c.name for c in staff_commands()]
    assert "/broadcast" not in replies_text(await stranger.send("/help"))


async def test_another_staff_member_cannot_touch_someone_elses_draft(
    chat: ChatFactory, services: Services, db: Database
) -> None:
    campaigns = campaigns_of(services)
    await campaigns.staff.grant(ADMIN_ID, 5555)
    draft = await campaigns.create_draft(ADMIN_ID, "mine")
    colleague = chat(5555, "en")
    calls = await colleague.press_data(f"bc:go:{draft.id}")
    assert alerts(calls)
    assert (await campaigns.require(draft.id)).state is CampaignState.DRAFT
    assert any(e.action == "broadcast.forged" and e.actor_id == 5555 for e in await audit.recent(db))


async def test_grant_and_revoke(
    chat: ChatFactory, services: Services, api: InProcessBotAPI, db: Database
) -> None:
    colleague = chat(5555, "en")
    await colleague.send("/start")
    admin = chat(ADMIN_ID, "en")
    calls = await admin.send("/grant 5555")
    assert "5555 is now commission staff" in last_text(calls)
    scope = json.dumps({"type": "chat", "chat_id": 5555}, sort_keys=True)
    menu = [c["command"] for key, cmds in api.commands.items() if key.startswith(scope) for c in cmds]
    assert "broadcast" in menu and "broadcasts" in menu
    calls = await colleague.send("/broadcast")
    assert "Send the text of the broadcast" in last_text(calls)
    await colleague.send("/cancel")
    assert "already" in last_text(await admin.send("/grant 5555"))
    assert "numeric Telegram id" in last_text(await admin.send("/grant someone"))
    assert "CAREBOT_ADMIN_IDS" in last_text(await admin.send(f"/revoke {ADMIN_ID}"))

    calls = await admin.send("/revoke 5555")
    assert "no longer commission staff" in last_text(calls)
    assert [c for c in api.calls if c.method == "deleteMyCommands"]
    calls = await colleague.send("/broadcast")
    assert "for health commission staff" in last_text(calls)
    actions = [(e.action, e.actor_id, e.target) for e in await audit.recent(db)]
    assert ("staff.granted", ADMIN_ID, "5555") in actions and ("staff.revoked", ADMIN_ID, "5555") in actions


async def test_cancelling_from_the_list(
    chat: ChatFactory, services: Services, db: Database, clock: FakeClock
) -> None:
    await people(db, range(8000, 8020))
    campaigns = campaigns_of(services)
    running = await campaigns.create("要取消的群发", Audience())
    await campaigns.advance()
    outbox = Outbox(db, clock)
    for entry in await outbox.claim("w", 5):
        await outbox.mark_sent(entry.id, 1)
    admin = chat(ADMIN_ID, "en")
    calls = await admin.send("/broadcasts")
    assert f"Cancel #{running.id}" in [b["text"] for b in calls[-1].buttons]
    calls = await admin.press(f"bc:c:{running.id}")
    assert "The 15 messages not sent yet will be dropped" in last_text(calls)
    calls = await admin.press(f"bc:cc:{running.id}")
    assert f"Broadcast #{running.id} cancelled: 15 messages" in last_text(calls)
    progress = await campaigns.progress(running.id)
    assert (
        progress.campaign.state is CampaignState.CANCELLED and progress.sent == 5 and progress.cancelled == 15
    )
    calls = await admin.press(f"bc:cc:{running.id}")
    assert "not running any more" in alerts(calls)[0]


async def test_delivery_through_429s_5xx_timeouts_and_blocked_recipients(
    db: Database, clock: FakeClock, api: InProcessBotAPI, services: Services
) -> None:
    recipients = range(6000, 6040)
    await people(db, recipients)
    campaigns = campaigns_of(services)
    campaign = await campaigns.create("<i>全市托育服务调查</i>", Audience())
    await campaigns.advance()
    dispatcher, _vt, log = make_dispatcher(db, clock, api, rate=10)
    log.per_chat[6001] = [Reply(429, "Too Many Requests: retry after 3", retry_after=3)]
    log.per_chat[6002] = [Reply(500, "Internal Server Error"), Reply(502, "Bad Gateway")]
    log.per_chat[6003] = [timeout_failure()]
    log.per_chat[6004] = [network_failure()]
    api.blocked_chats.update({6005, 6006})

    for _ in range(20):
        await dispatcher.run_until_idle()
        await campaigns.advance()
        progress = await campaigns.progress(campaign.id)
        if progress.finished:
            break
        clock.advance(minutes=1)  # past the backoff of the failed sends
    assert progress.campaign.state is CampaignState.DONE
    assert (progress.total, progress.sent, progress.blocked, progress.failed, progress.remaining) == (
        40,
        38,
        2,
        0,
        0,
    )
    delivered: dict[int, int] = {}
    for call in api.calls:
        if call.method == "sendMessage" and call.seq in api.message_ids:
            delivered[int(call.chat_id or 0)] = delivered.get(int(call.chat_id or 0), 0) + 1
    assert delivered == {user_id: 1 for user_id in recipients if user_id not in (6005, 6006)}
    assert log.max_in_window(1.0) <= 10
    assert [s.chat_id for s in log.stamps].count(6002) == 3
    # Those who blocked the bot are out of the next audience.
    assert await campaigns.count(Audience()) == 38


async def test_the_campaign_job_is_installed_once(app: CareBotApp) -> None:
    from handlers.broadcast import TICK_JOB, install_jobs

    queue = app.job_queue
    assert queue is not None
    assert not queue.get_jobs_by_name(TICK_JOB)  # not by register(): the console must not run it
    install_jobs(app)
    install_jobs(app)
    assert [job.name for job in queue.jobs() if job.name == TICK_JOB and not job.removed] == [TICK_JOB]


def test_text_formatted_in_the_app_becomes_html() -> None:
    from telegram import Chat, Message, MessageEntity

    from handlers.broadcast import html_source

    when = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    formatted = Message(
        1, when, Chat(1, "private"), text="Flu season: 1 < 2", entities=[MessageEntity("bold", 0, 3)]
    )
    assert html_source(formatted) == "<b>Flu</b> season: 1 &lt; 2"
    typed = Message(2, when, Chat(1, "private"), text="<b>Flu</b> season")
    assert html_source(typed) == "<b>Flu</b> season"


async def test_unsubscribing_drops_copies_already_queued(services: Services) -> None:
    from schedules.outbox import NewMessage, Outbox, OutboxState

    outbox = Outbox(services.db, services.clock)
    await services.accounts.touch(7301)
    await outbox.enqueue(
        NewMessage(key="broadcast:1:7301", recipient_id=7301, kind="broadcast", text="guidance")
    )
    await outbox.enqueue(
        NewMessage(key="reminder:x:7301", recipient_id=7301, kind="reminder", text="deadline")
    )
    await services.accounts.set_broadcasts(7301, False)
    states = {e.key: e.state for e in await outbox.for_recipient(7301)}
    assert states == {"broadcast:1:7301": OutboxState.CANCELLED, "reminder:x:7301": OutboxState.PENDING}


async def test_granted_staff_reach_staff_commands(chat: ChatFactory, services: Services) -> None:
    await services.staff.grant(ADMIN_ID, 7302)
    calls = await chat(7302, "en").send("/stats")
    assert "staff" not in calls[-1].text.split("\n")[0]
    calls = await chat(7302, "en").send("/help")
    assert "/broadcast" in calls[-1].text
    await chat(7302, "en").send("/start")
    session = chat(7302, "en")
    await session.press("ob:l:en")
    await session.press("ob:r:commission")
    await session.press("ob:d:commission:思明区")
    await session.press("ob:c:commission:思明区")
    profile = await services.accounts.get(7302)
    assert profile is not None and profile.role is not None and profile.role.value == "commission"
