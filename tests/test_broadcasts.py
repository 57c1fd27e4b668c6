"""The broadcast core: audiences, the HTML check, estimates, a batched and resumable fan-out, scheduling,
progress, cancellation, the report, staff grants, and what /forget does to campaigns and grants."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from bot import audit
from bot.clock import FakeClock
from bot.services import Services
from bot.settings import Settings
from bot.staff import Staff, StaffError
from bot.storage.db import Database
from bot.storage.models import User
from bot.transport import check_html
from schedules.broadcasts import (
    BROADCASTS,
    Audience,
    AudienceGroup,
    BroadcastError,
    Campaigns,
    CampaignState,
    Estimate,
    html_problem,
    parse_language,
    parse_when,
    recipient_key,
)
from schedules.outbox import Outbox
from tests.conftest import ADMIN_ID

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


async def person(
    db: Database,
    user_id: int,
    *,
    role: str | None = "parent",
    district: str | None = "思明区",
    language: str | None = "zh_Hans",
    enabled: bool = True,
    blocked: bool = False,
) -> None:
    async with db.session() as session:
        session.add(
            User(
                id=user_id,
                language=language,
                role=role,
                district=district,
                consent_at=T0 if role else None,
                broadcasts_enabled=enabled,
                blocked_at=T0 if blocked else None,
                created_at=T0,
                updated_at=T0,
            )
        )


async def people(db: Database, ids: range, **kwargs: Any) -> None:
    async with db.session() as session:
        for user_id in ids:
            session.add(
                User(
                    id=user_id,
                    language=kwargs.get("language", "zh_Hans"),
                    role=kwargs.get("role", "parent"),
                    district="思明区",
                    consent_at=T0,
                    created_at=T0,
                    updated_at=T0,
                )
            )


@pytest.fixture
def campaigns(services: Services) -> Campaigns:
    return Campaigns(services.db, services.clock, services.settings)


@pytest.fixture
async def town(db: Database) -> None:
    """A small town: every kind of person the audience query has to tell apart."""
    await person(db, 1, role="parent", district="思明区", language="zh_Hans")
    await person(db, 2, role="parent", district="湖里区", language="en")
    await person(db, 3, role="operator", district="思明区", language="zh_Hant")
    await person(db, 4, role="operator", district="集美区", language="zh_Hans")
    await person(db, 5, role="commission", district=None, language="zh_Hans")
    await person(db, 6, role=None, district=None, language=None)  # pressed /start, nothing more
    await person(db, 7, role=None, district=None, language="en")  # chose a language only
    await person(db, 8, role="parent", enabled=False)  # /unsubscribe
    await person(db, 9, role="parent", blocked=True)  # blocked the bot
    await person(db, 10, role="operator", district="思明区", enabled=False)


@pytest.mark.usefixtures("town")
@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (Audience(), [1, 2, 3, 4, 5, 6, 7]),
        (Audience(AudienceGroup.PARENTS), [1, 2]),
        (Audience(AudienceGroup.OPERATORS), [3, 4]),
        (Audience(districts=("思明区",)), [1, 3]),
        (Audience(AudienceGroup.OPERATORS, districts=("思明区", "集美区")), [3, 4]),
        (Audience(AudienceGroup.PARENTS, districts=("集美区",)), []),
        (Audience(language="en"), [2, 7]),
        (Audience(language="zh_Hant"), [3]),
        # Never chose a language: written to in the default one, so they belong to it.
        (Audience(language="zh_Hans"), [1, 4, 5, 6]),
        (Audience(AudienceGroup.PARENTS, language="zh_Hans"), [1]),
    ],
)
async def test_audience_selection(campaigns: Campaigns, audience: Audience, expected: list[int]) -> None:
    assert await campaigns.recipients(audience) == expected
    assert await campaigns.count(audience) == len(expected)


@pytest.mark.usefixtures("town")
async def test_the_count_follows_unsubscribing_and_subscribing(
    campaigns: Campaigns, services: Services
) -> None:
    assert await campaigns.count(Audience()) == 7
    await services.accounts.set_broadcasts(1, False)
    assert await campaigns.count(Audience()) == 6
    await services.accounts.set_broadcasts(8, True)
    await services.accounts.set_broadcasts(1, True)
    assert await campaigns.count(Audience()) == 8


def test_unknown_districts_and_languages_are_refused(campaigns: Campaigns) -> None:
    with pytest.raises(BroadcastError) as error:
        campaigns.check_audience(Audience(districts=("火星区",)))
    assert error.value.code == "unknown_district"
    assert (
        parse_language("zh-hant") == "zh_Hant"
        and parse_language("EN") == "en"
        and parse_language("any") is None
    )
    with pytest.raises(BroadcastError):
        parse_language("fr")


@pytest.mark.parametrize(
    "text",
    [
        "<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code> <pre>p</pre> <blockquote>q</blockquote>",
        '<a href="https://wjw.xm.gov.cn">卫健委</a> &lt;3 &amp; &quot;',
        '<span class="tg-spoiler">x</span> <tg-spoiler>y</tg-spoiler> plain & text',
    ],
)
def test_html_that_telegram_accepts_passes(text: str) -> None:
    assert html_problem(text) is None
    assert check_html(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<b>never closed", "never closed"),
        ("<b><i>crossed</b></i>", "does not close"),
        ("line<br>break", "<br>"),
        ("<div>x</div>", "<div>"),
        ("a < b", "&lt;"),
        ("&nbsp;x", "&nbsp;"),
        ('<a href="javascript:alert(1)">x</a>', "href"),
        ('<b class="x">x</b>', "class"),
        ("<b></b>", "no text"),
        ("<!-- note -->x", "comments"),
    ],
)
def test_html_that_telegram_refuses_is_caught(text: str, problem: str) -> None:
    found = html_problem(text)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "text",
    [
        "<b>never closed",
        "<b><i>crossed</b></i>",
        "line<br>break",
        "<div>x</div>",
        "a < b",
        "&nbsp;x",
        '<a href="javascript:alert(1)">x</a>',
        "<b></b>",
        "</b>stray",
        "<b>流感季</b>：请接种 &amp; <i>按时</i>",
        '<a href="https://example.org/a?b=1&amp;c=2">link</a>',
        "<pre><code>x = 1</code></pre>",
        "plain text",
    ],
)
def test_whatever_the_bot_api_refuses_the_check_refuses_first(text: str) -> None:
    if check_html(text) is not None:
        assert html_problem(text) is not None


def test_text_is_checked_for_length(campaigns: Campaigns) -> None:
    from schedules.broadcasts import check_text

    assert check_text("  hi  ") == "hi"
    with pytest.raises(BroadcastError, match="too_long"):
        check_text("x" * 4097)
    with pytest.raises(BroadcastError, match="empty"):
        check_text("   ")


def test_estimates_of_time_and_stars() -> None:
    free = Estimate.of(1_000_000, 25, paid=False)
    assert free.seconds == 40_000 and free.stars == 0 and free.paid_messages == 0
    paid = Estimate.of(1_000_000, 1000, paid=True)
    # At 1,000 a second, 30 of each second's messages are free: 970,000 paid at 0.1 Star.
    assert paid.seconds == 1000 and paid.paid_messages == 970_000 and paid.stars == 97_000.0
    assert Estimate.of(300, 25, paid=True).stars == 0


def test_times_typed_by_people() -> None:
    tz = Settings(_env_file=None).tz  # type: ignore[call-arg]
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    assert parse_when("2026-11-24 09:00", now, tz) == dt.datetime(2026, 11, 24, 9, 0, tzinfo=tz)
    assert parse_when("2026/11/24 09：30", now, tz) == dt.datetime(2026, 11, 24, 9, 30, tzinfo=tz)
    assert parse_when("15:00", now, tz) == dt.datetime(2026, 11, 23, 15, 0, tzinfo=tz)
    assert parse_when("09:00", now, tz) == dt.datetime(2026, 11, 24, 9, 0, tzinfo=tz)  # the next 9:00
    assert parse_when("01-05 08:00", now, tz) == dt.datetime(2027, 1, 5, 8, 0, tzinfo=tz)
    with pytest.raises(BroadcastError, match="bad_time"):
        parse_when("tomorrow-ish", now, tz)


async def test_fan_out_is_batched_and_resumable(db: Database, clock: FakeClock, settings: Settings) -> None:
    await people(db, range(100, 130))
    await person(db, 999, language="en")
    campaigns = Campaigns(db, clock, settings, chunk=7)
    campaign = await campaigns.create("<b>冬季育儿提示</b>", Audience())
    first = await campaigns.fan_out(campaign.id, max_chunks=2)
    assert (first.chunks, first.queued, first.complete) == (2, 14, False)
    progress = await campaigns.progress(campaign.id)
    assert progress.total == 31 and progress.in_outbox == 14 and progress.unqueued == 17

    # A crash that lost the cursor (or a second process starting from scratch): nothing is queued twice.
    async with db.engine.begin() as conn:
        await conn.execute(update(BROADCASTS).values(fanout_cursor=None))
    rest = await campaigns.fan_out(campaign.id)
    assert rest.complete and rest.queued == 17
    again = await campaigns.fan_out(campaign.id)
    assert again.queued == 0 and again.chunks == 0
    entries = await Outbox(db, clock).entries(campaign_id=campaign.id)
    assert len(entries) == 31 == len({e.key for e in entries})
    assert (await campaigns.require(campaign.id)).total == 31
    english = await Outbox(db, clock).get(recipient_key(campaign.id, 999))
    assert english is not None and english.kind == "broadcast" and english.parse_mode == "HTML"
    assert english.reply_markup == {
        "inline_keyboard": [[{"text": "Turn these messages off", "callback_data": "sub:off"}]]
    }
    chinese = await Outbox(db, clock).get(recipient_key(campaign.id, 100))
    assert chinese is not None and chinese.reply_markup is not None
    assert chinese.reply_markup["inline_keyboard"][0][0]["text"] != "Turn these messages off"


async def test_a_scheduled_campaign_waits_then_runs_to_done(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await people(db, range(200, 205))
    campaigns = Campaigns(db, clock, settings)
    at = clock.now() + dt.timedelta(hours=2)
    campaign = await campaigns.create("明早九点：疫苗接种提醒", Audience(), scheduled_at=at)
    assert campaign.state is CampaignState.SCHEDULED
    report = await campaigns.advance()
    assert report.queued == 0 and not report.started  # two hours ahead: not even fanned out

    clock.set(at - dt.timedelta(minutes=5))  # within the lead: queued, held back until its time
    report = await campaigns.advance()
    assert report.queued == 5 and not report.started
    assert all(e.next_attempt_at == at for e in await Outbox(db, clock).entries(campaign_id=campaign.id))
    assert (await Outbox(db, clock).claim("w", 10)) == []
    progress = await campaigns.progress(campaign.id)
    assert progress.estimated_finish == at + dt.timedelta(seconds=5 / settings.broadcast_rate)

    clock.set(at)
    report = await campaigns.advance()
    assert report.started == [campaign.id]
    outbox = Outbox(db, clock)
    for entry in await outbox.claim("w", 10):
        await outbox.mark_sent(entry.id, 1)
    report = await campaigns.advance()
    assert report.finished == [campaign.id]
    done = await campaigns.progress(campaign.id)
    assert done.campaign.state is CampaignState.DONE and done.sent == 5 and done.remaining == 0
    assert done.campaign.finished_at == at and done.estimated_finish is None


async def test_times_in_the_past_or_too_far_ahead_are_refused(campaigns: Campaigns, clock: FakeClock) -> None:
    with pytest.raises(BroadcastError, match="past"):
        await campaigns.create("x", Audience(), scheduled_at=clock.now() - dt.timedelta(hours=1))
    with pytest.raises(BroadcastError, match="too_far"):
        await campaigns.create("x", Audience(), scheduled_at=clock.now() + dt.timedelta(days=90))


async def test_cancel_drops_what_is_not_sent_and_says_how_many(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await people(db, range(300, 320))
    campaigns = Campaigns(db, clock, settings, chunk=5)
    campaign = await campaigns.create("取消测试", Audience())
    await campaigns.fan_out(campaign.id, max_chunks=2)  # 10 of 20 queued
    outbox = Outbox(db, clock)
    claimed = await outbox.claim("w", 4)
    for entry in claimed[:3]:
        await outbox.mark_sent(entry.id, 1)
    in_flight = claimed[3]

    result = await campaigns.cancel(campaign.id, ADMIN_ID)
    assert result.dropped == 6 and result.not_queued == 10
    assert (await campaigns.fan_out(campaign.id)).queued == 0  # the fan-out stops too
    # The message in flight failed and came back for a retry: the campaign's sweep drops it.
    await outbox.mark_retry(in_flight.id, "w", clock.now(), "500")
    report = await campaigns.advance()
    assert report.dropped == 1
    progress = await campaigns.progress(campaign.id)
    assert progress.campaign.state is CampaignState.CANCELLED
    assert (progress.sent, progress.cancelled, progress.remaining) == (3, 7, 0)
    with pytest.raises(BroadcastError, match="not_active"):
        await campaigns.cancel(campaign.id)
    events = [e for e in await audit.recent(db) if e.action == "broadcast.cancelled"]
    assert events and events[0].actor_id == ADMIN_ID and '"dropped": 6' in (events[0].details or "")


async def test_the_report_has_one_line_per_recipient(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await people(db, range(400, 403))
    campaigns = Campaigns(db, clock, settings)
    campaign = await campaigns.create("报告", Audience())
    await campaigns.advance(campaign_id=campaign.id)
    outbox = Outbox(db, clock)
    first, second, _third = await outbox.claim("w", 3)
    await outbox.mark_sent(first.id, 1)
    await outbox.mark_failed(second.id, "w", "permanent: chat not found")
    rows = [r async for r in campaigns.report(campaign.id)]
    assert [(r.user_id, r.state) for r in rows] == [(400, "sent"), (401, "failed"), (402, "sending")]
    assert rows[0].sent_at == clock.now() and rows[1].error == "permanent: chat not found"


async def test_drafts_belong_to_staff_and_to_their_author(
    campaigns: Campaigns, services: Services, db: Database
) -> None:
    with pytest.raises(BroadcastError, match="not_staff"):
        await campaigns.create_draft(4242, "hello")
    draft = await campaigns.create_draft(ADMIN_ID, "hello")
    assert draft.state is CampaignState.DRAFT and draft.scheduled_at is None
    await Staff(db, services.clock, services.settings).grant(ADMIN_ID, 4242)
    with pytest.raises(BroadcastError, match="not_author"):
        await campaigns.update_draft(draft.id, 4242, audience=Audience(AudienceGroup.PARENTS))
    with pytest.raises(BroadcastError, match="not_author"):
        await campaigns.confirm(draft.id, 4242)
    confirmed = await campaigns.confirm(draft.id, ADMIN_ID)
    assert confirmed.state is CampaignState.SCHEDULED and confirmed.scheduled_at == services.clock.now()
    with pytest.raises(BroadcastError, match="not_draft"):
        await campaigns.update_draft(draft.id, ADMIN_ID, text="changed")
    created = [e for e in await audit.recent(db) if e.action == "broadcast.created"]
    assert created and created[0].actor_id == ADMIN_ID


async def test_grants_are_for_administrators_to_give_and_are_audited(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    staff = Staff(db, clock, settings)
    assert await staff.is_staff(ADMIN_ID) and not await staff.is_staff(5555)
    with pytest.raises(StaffError, match="not_admin"):
        await staff.grant(6666, 5555)
    assert await staff.grant(ADMIN_ID, 5555)
    assert not await staff.grant(ADMIN_ID, 5555)
    assert await staff.is_staff(5555) and await staff.granted() == [5555]
    with pytest.raises(StaffError, match="not_admin"):
        await staff.grant(5555, 7777)  # granted staff cannot grant in turn
    with pytest.raises(StaffError, match="configured_admin"):
        await staff.revoke(ADMIN_ID, ADMIN_ID)
    assert await staff.revoke(ADMIN_ID, 5555) and not await staff.is_staff(5555)
    actions = [(e.action, e.actor_id, e.target) for e in reversed(await audit.recent(db))]
    assert ("staff.granted", ADMIN_ID, "5555") in actions and ("staff.revoked", ADMIN_ID, "5555") in actions
    assert ("staff.grant_refused", 6666, "5555") in actions


async def test_forgetting_a_person_anonymises_their_campaigns_and_deletes_their_grant(
    services: Services, db: Database
) -> None:
    staff = Staff(db, services.clock, services.settings)
    await staff.grant(ADMIN_ID, 5555)
    await services.accounts.touch(5555)
    campaigns = Campaigns(db, services.clock, services.settings)
    campaign = await campaigns.create("hello", Audience(), author_id=5555)
    exported = await services.accounts.export(5555)
    assert "staff_grants" in exported and exported["broadcasts"][0]["id"] == campaign.id
    await services.accounts.forget(5555)
    kept = await campaigns.require(campaign.id)
    assert kept.author_id is None and kept.text == "hello"
    assert not await staff.is_staff(5555)
