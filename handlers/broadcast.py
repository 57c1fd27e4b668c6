"""/broadcast, /broadcasts, /grant and /revoke: commission staff write, target, preview, confirm and follow
a campaign; anyone else is refused at every step, and forged buttons are refused and audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from typing import Any

from babel.dates import format_timedelta
from babel.numbers import format_decimal
from telegram import BotCommand, BotCommandScopeChat, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    JobQueue,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import audit
from bot.app import CareBotApp, CareBotContext
from bot.i18n import LANGUAGE_NAMES, LOCALES, N_, Translate, normalize_locale, translator
from bot.menu import mark_available, staff_commands
from bot.services import Services
from bot.staff import Staff, StaffError
from handlers.common import edit_or_reply, keyboard, reply, user_locale
from schedules.broadcasts import (
    MAX_SCHEDULE_AHEAD,
    MAX_TEXT_LENGTH,
    STARS_PER_PAID_MESSAGE,
    UNSUBSCRIBE_LABEL,
    AudienceGroup,
    BroadcastError,
    Campaign,
    Campaigns,
    CampaignState,
    Estimate,
    Progress,
    parse_when,
)

log = logging.getLogger(__name__)

TEXT, WHEN = range(2)
PREFIX = "bc"
# Moves campaigns along (start, fan out, close) within a time budget, so a run never overlaps the next.
TICK_JOB = "broadcasts.tick"
TICK_INTERVAL = 5.0
TICK_BUDGET = 3.0
TICK_CHUNKS = 2
# The staff member's progress message is edited this often, and never more often than the minimum,
# however many bot processes run the job.
PROGRESS_INTERVAL = 30.0
PROGRESS_MIN_INTERVAL = dt.timedelta(seconds=25)
MORNING_HOUR = 9
DRAFT_KEY = "broadcast_draft"
# Telegram entity types that mean the staff member formatted the text in their app, not with tags.
FORMATTING = {
    MessageEntity.BOLD, MessageEntity.ITALIC, MessageEntity.UNDERLINE, MessageEntity.STRIKETHROUGH,
    MessageEntity.SPOILER, MessageEntity.CODE, MessageEntity.PRE, MessageEntity.TEXT_LINK,
    MessageEntity.BLOCKQUOTE, MessageEntity.EXPANDABLE_BLOCKQUOTE, MessageEntity.CUSTOM_EMOJI,
}  # fmt: skip

GROUP_NAMES = {
    AudienceGroup.ALL: N_("everyone"),
    AudienceGroup.PARENTS: N_("parents and carers"),
    AudienceGroup.OPERATORS: N_("nursery operators"),
}
_PREVIEW_BUTTON = N_("Recipients use this button to turn the commission's broadcasts off.")
STATE_NAMES = {
    CampaignState.DRAFT: N_("draft"),
    CampaignState.SCHEDULED: N_("scheduled"),
    CampaignState.SENDING: N_("sending"),
    CampaignState.DONE: N_("done"),
    CampaignState.CANCELLED: N_("cancelled"),
}


def campaigns_for(services: Services) -> Campaigns:
    return Campaigns(services.db, services.clock, services.settings)


def staff_for(services: Services) -> Staff:
    return services.staff


# -- rendering (pure) ------------------------------------------------------------------------------
def number(value: float, locale: str) -> str:
    return format_decimal(value, locale=normalize_locale(locale))


def duration(seconds: float, locale: str) -> str:
    """ "about 9 hours", "12 seconds": the largest sensible unit, in the reader's language."""
    return format_timedelta(
        dt.timedelta(seconds=max(1.0, seconds)), threshold=1.5, locale=normalize_locale(locale)
    )


def local_time(moment: dt.datetime, services: Services) -> str:
    return moment.astimezone(services.settings.tz).strftime("%Y-%m-%d %H:%M")


def audience_line(_: Translate, campaign: Campaign) -> str:
    audience = campaign.audience
    districts = "、".join(audience.districts) if audience.districts else _("all districts")
    language = LANGUAGE_NAMES[audience.language] if audience.language else _("any language")
    return _(
        "To: {group} · {districts} · {language}",
        group=_(GROUP_NAMES[audience.group]),
        districts=districts,
        language=language,
    )


def when_line(_: Translate, campaign: Campaign, services: Services) -> str:
    if campaign.scheduled_at is None:
        return _("When: as soon as you confirm")
    return _(
        "When: {time} ({tz})", time=local_time(campaign.scheduled_at, services), tz=services.settings.timezone
    )


def estimate_lines(_: Translate, estimate: Estimate, locale: str) -> list[str]:
    lines = [
        _(
            "Recipients: {count}. At {rate} messages a second that takes about {duration}.",
            count=number(estimate.recipients, locale),
            rate=number(estimate.rate, locale),
            duration=duration(estimate.seconds, locale),
        )
    ]
    if estimate.paid:
        if estimate.paid_messages:
            lines.append(
                _(
                    "Paid broadcasting is on: about {stars} Telegram Stars for {paid} messages above the free 30 "
                    "a second ({price} Star each). This is an estimate; Telegram charges the bot's balance for "
                    "what it actually sends.",
                    stars=number(estimate.stars, locale),
                    paid=number(estimate.paid_messages, locale),
                    price=number(STARS_PER_PAID_MESSAGE, locale),
                )
            )
        else:
            lines.append(
                _(
                    "Paid broadcasting is on, but at {rate} messages a second nothing goes above the free 30 a "
                    "second, so this costs no Stars.",
                    rate=number(estimate.rate, locale),
                )
            )
    return lines


def panel_text(_: Translate, campaign: Campaign, estimate: Estimate, services: Services, locale: str) -> str:
    lines = [
        _("Broadcast #{id} (draft). Choose who receives it and when:", id=campaign.id),
        "",
        audience_line(_, campaign),
        when_line(_, campaign, services),
        *estimate_lines(_, estimate, locale),
        "",
        _("The preview above is exactly what recipients will see, with the button in their language."),
    ]
    return "\n".join(lines)


def panel_keyboard(_: Translate, campaign: Campaign, districts: tuple[str, ...]) -> InlineKeyboardMarkup:
    cid = campaign.id
    audience = campaign.audience

    def mark(chosen: bool, label: str) -> str:
        return f"✓ {label}" if chosen else label

    rows: list[list[tuple[str, str]]] = [
        [(mark(audience.group is g, _(GROUP_NAMES[g])), f"{PREFIX}:g:{cid}:{g.value}") for g in AudienceGroup]
    ]
    buttons = [(mark(not audience.districts, _("All districts")), f"{PREFIX}:d:{cid}:*")]
    buttons += [
        (mark(name in audience.districts, name), f"{PREFIX}:d:{cid}:{index}")
        for index, name in enumerate(districts)
    ]
    rows += [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append(
        [(mark(audience.language is None, _("Any language")), f"{PREFIX}:l:{cid}:*")]
        + [
            (mark(audience.language == loc, LANGUAGE_NAMES[loc]), f"{PREFIX}:l:{cid}:{loc}")
            for loc in LOCALES
        ]
    )
    rows.append(
        [
            (mark(campaign.scheduled_at is None, _("Send now")), f"{PREFIX}:w:{cid}:now"),
            (_("Tomorrow 9:00"), f"{PREFIX}:w:{cid}:am"),
            (_("Choose a time…"), f"{PREFIX}:at:{cid}"),
        ]
    )
    rows.append([(_("Change the text"), f"{PREFIX}:tx:{cid}"), (_("Discard"), f"{PREFIX}:x:{cid}")])
    rows.append([(_("Review and send →"), f"{PREFIX}:ok:{cid}")])
    return keyboard(rows)


def progress_text(_: Translate, progress: Progress, services: Services, locale: str) -> str:
    campaign = progress.campaign
    lines = [
        _(
            "Broadcast #{id}: {state}",
            id=campaign.id,
            state=_(STATE_NAMES[campaign.state]),
        ),
        audience_line(_, campaign),
        _(
            "Sent {sent} of {total} · failed {failed} · blocked {blocked} · remaining {remaining}",
            sent=number(progress.sent, locale),
            total=number(progress.total, locale),
            failed=number(progress.failed, locale),
            blocked=number(progress.blocked, locale),
            remaining=number(progress.remaining, locale),
        ),
    ]
    if progress.cancelled:
        lines.append(_("Dropped by cancelling: {n}", n=number(progress.cancelled, locale)))
    if campaign.state is CampaignState.SCHEDULED and campaign.scheduled_at:
        lines.append(_("Starts at {time}", time=local_time(campaign.scheduled_at, services)))
    finish = progress.estimated_finish
    if finish is not None:
        lines.append(_("Estimated finish: {time}", time=local_time(finish, services)))
    elif campaign.finished_at is not None:
        lines.append(_("Finished at {time}", time=local_time(campaign.finished_at, services)))
    return "\n".join(lines)


def progress_keyboard(_: Translate, campaign: Campaign) -> InlineKeyboardMarkup | None:
    if not campaign.active:
        return None
    return keyboard(
        [
            [
                (_("Refresh"), f"{PREFIX}:r:{campaign.id}"),
                (_("Cancel this broadcast"), f"{PREFIX}:c:{campaign.id}"),
            ]
        ]
    )


def error_text(_: Translate, error: BroadcastError, services: Services) -> str:
    texts = {
        "empty": _("The text is empty. Send the text of the broadcast."),
        "too_long": _(
            "The text is too long: {length} characters, and Telegram allows {limit}, tags included.",
            length=error.detail,
            limit=MAX_TEXT_LENGTH,
        ),
        "html": _(
            'Telegram would refuse this formatting: {problem}. Use <b>, <i>, <u>, <s>, <a href="https://…">, '
            "<code>, <pre>, <blockquote> or your app's own formatting, and write <, > and & as &lt;, &gt; and "
            "&amp;. Send the corrected text.",
            problem=error.detail,
        ),
        "bad_time": _(
            "I could not read that time. Write it like 2026-11-24 09:00 or 09:00 ({tz}).",
            tz=services.settings.timezone,
        ),
        "past": _("That time has passed. Choose a later one."),
        "too_far": _(
            "That is more than {days} days ahead. Choose an earlier time.", days=MAX_SCHEDULE_AHEAD.days
        ),
        "not_draft": _("This draft was already sent or discarded. Send /broadcast to write a new one."),
        "not_active": _("This broadcast is not running any more."),
    }
    return texts.get(error.code, _("This button has expired. Send /broadcasts to see the current campaigns."))


# -- who may ---------------------------------------------------------------------------------------
async def _is_staff(update: Update, context: CareBotContext) -> bool:
    user = update.effective_user
    return user is not None and await staff_for(context.services).is_staff(user.id)


async def _refuse(update: Update, context: CareBotContext, action: str, what: str) -> None:
    """Refuse and write it in the audit log: staff-only steps reached by others are worth knowing about."""
    user = update.effective_user
    services = context.services
    await audit.record(
        services.db,
        services.clock,
        actor_id=user.id if user else None,
        action=action,
        target=what[:128],
    )
    _locale, _, _profile = await user_locale(update, context)
    query = update.callback_query
    if query is not None:
        await query.answer(_("This is only for health commission staff."), show_alert=True)
    else:
        await reply(update, _("This command is for health commission staff."))


def _parse(data: str) -> tuple[str, int, str] | None:
    """``bc:VERB:ID[:ARG]`` → (verb, id, arg); None when it is not well formed."""
    parts = data.split(":", 3)
    if len(parts) < 3 or parts[0] != PREFIX or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2]), parts[3] if len(parts) == 4 else ""


async def _campaign_for_button(update: Update, context: CareBotContext) -> tuple[str, Campaign, str] | None:
    """The pressed button's verb, campaign and argument, for a staff member allowed to press it.

    Anything else (not staff, malformed data, someone else's draft) is refused and audited: the bot
    never sent such a button to this person, so the data was made up.
    """
    query = update.callback_query
    assert query is not None
    data = query.data or ""
    if not await _is_staff(update, context):
        await _refuse(update, context, "broadcast.refused", data)
        return None
    parsed = _parse(data)
    campaign = await campaigns_for(context.services).get(parsed[1]) if parsed else None
    if parsed is None or campaign is None:
        await _refuse(update, context, "broadcast.forged", data)
        return None
    verb, _cid, arg = parsed
    user = update.effective_user
    assert user is not None
    if campaign.state is CampaignState.DRAFT and campaign.author_id != user.id:
        await _refuse(update, context, "broadcast.forged", data)
        return None
    return verb, campaign, arg


# -- writing: /broadcast and the text ------------------------------------------------------------
async def start_broadcast(update: Update, context: CareBotContext) -> int:
    """Ask a staff member for the text of a new broadcast."""
    if not await _is_staff(update, context):
        await _refuse(update, context, "broadcast.refused", "/broadcast")
        return ConversationHandler.END
    locale, _, profile = await user_locale(update, context)
    if profile is None and update.effective_user is not None:
        # The progress message is edited later by a job, which has only the stored language to go by.
        await context.services.accounts.touch(update.effective_user.id, language=locale)
    _draft_data(context).pop(DRAFT_KEY, None)
    await reply(
        update,
        _(
            "Send the text of the broadcast. You can format it in your app or with Telegram's HTML tags "
            '(<b>, <i>, <u>, <s>, <a href="https://…">, <code>, <blockquote>). Nothing is sent until you '
            "confirm. Send /cancel to stop."
        ),
    )
    return TEXT


async def _open_draft_for_input(update: Update, context: CareBotContext) -> tuple[Campaign, Translate] | None:
    """For a button that asks for typed input about a draft: the draft, remembered for the next message."""
    query = update.callback_query
    assert query is not None
    found = await _campaign_for_button(update, context)
    if found is None:
        return None
    await query.answer()
    _verb, campaign, _arg = found
    _locale, _, _profile = await user_locale(update, context)
    if campaign.state is not CampaignState.DRAFT:
        await reply(update, error_text(_, BroadcastError("not_draft"), context.services))
        return None
    _draft_data(context)[DRAFT_KEY] = campaign.id
    return campaign, _


async def change_text_button(update: Update, context: CareBotContext) -> int:
    """Ask for a new text for an existing draft."""
    opened = await _open_draft_for_input(update, context)
    if opened is None:
        return ConversationHandler.END
    campaign, _ = opened
    await reply(update, _("Send the new text for broadcast #{id}, or /cancel.", id=campaign.id))
    return TEXT


async def receive_text(update: Update, context: CareBotContext) -> int:
    """Check the text, keep it as a draft, and show the preview and the audience panel."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return ConversationHandler.END
    locale, _, _profile = await user_locale(update, context)
    if not await _is_staff(update, context):  # rights revoked mid-way
        await _refuse(update, context, "broadcast.refused", "text")
        return ConversationHandler.END
    text = html_source(message)
    campaigns = campaigns_for(context.services)
    editing = _draft_data(context).get(DRAFT_KEY)
    try:
        if isinstance(editing, int):
            campaign = await campaigns.update_draft(editing, user.id, text=text)
        else:
            campaign = await campaigns.create_draft(user.id, text)
    except BroadcastError as exc:
        await reply(update, error_text(_, exc, context.services))
        return ConversationHandler.END if exc.code in ("not_draft", "not_found", "not_author") else TEXT
    _draft_data(context).pop(DRAFT_KEY, None)
    await _send_preview(update, campaign, _)
    await _send_panel(update, context, campaign, locale)
    return ConversationHandler.END


def html_source(message: Message) -> str:
    """HTML from the app's own formatting when there is any; otherwise the text as typed, tags and all."""
    text = message.text or ""
    if any(e.type in FORMATTING for e in message.entities or ()):
        return message.text_html
    return text


async def _send_preview(update: Update, campaign: Campaign, _: Translate) -> None:
    # The recipients' button turns their broadcasts off; in the preview it only explains itself.
    await reply(
        update,
        campaign.text,
        keyboard([[(_(UNSUBSCRIBE_LABEL), f"{PREFIX}:pv:{campaign.id}")]]),
        html=True,
    )


async def _send_panel(update: Update, context: CareBotContext, campaign: Campaign, locale: str) -> None:
    text, markup = await _panel(context, campaign, locale)
    await reply(update, text, markup)


async def _panel(
    context: CareBotContext, campaign: Campaign, locale: str
) -> tuple[str, InlineKeyboardMarkup]:
    services = context.services
    campaigns = campaigns_for(services)
    _ = translator(locale)
    estimate = campaigns.estimate(await campaigns.count(campaign.audience))
    return (
        panel_text(_, campaign, estimate, services, locale),
        panel_keyboard(_, campaign, services.settings.districts),
    )


# -- choosing a time -------------------------------------------------------------------------------
async def choose_time_button(update: Update, context: CareBotContext) -> int:
    """Ask for the moment to send at."""
    opened = await _open_draft_for_input(update, context)
    if opened is None:
        return ConversationHandler.END
    campaign, _ = opened
    await reply(
        update,
        _(
            "When should broadcast #{id} go out? Write the time like 2026-11-24 09:00 or 09:00 ({tz}), or /cancel.",
            id=campaign.id,
            tz=context.services.settings.timezone,
        ),
    )
    return WHEN


async def receive_time(update: Update, context: CareBotContext) -> int:
    """Read the time, store it on the draft and show the panel again."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return ConversationHandler.END
    locale, _, _profile = await user_locale(update, context)
    services = context.services
    campaign_id = _draft_data(context).get(DRAFT_KEY)
    if not isinstance(campaign_id, int):
        return ConversationHandler.END
    try:
        moment = parse_when(message.text or "", services.clock.now(), services.settings.tz)
        campaign = await campaigns_for(services).update_draft(campaign_id, user.id, scheduled_at=moment)
    except BroadcastError as exc:
        await reply(update, error_text(_, exc, services))
        return WHEN if exc.code in ("bad_time", "past", "too_far") else ConversationHandler.END
    _draft_data(context).pop(DRAFT_KEY, None)
    await _send_panel(update, context, campaign, locale)
    return ConversationHandler.END


async def cancel_compose(update: Update, context: CareBotContext) -> int:
    """Leave the text or time prompt; a draft already saved stays until discarded."""
    _locale, _, _profile = await user_locale(update, context)
    _draft_data(context).pop(DRAFT_KEY, None)
    await reply(update, _("Stopped. Nothing was sent."))
    return ConversationHandler.END


def _draft_data(context: CareBotContext) -> dict[Any, Any]:
    data = context.user_data
    assert data is not None
    return data


# -- the buttons -----------------------------------------------------------------------------------
async def button(update: Update, context: CareBotContext) -> None:
    """Every other broadcast button: audience, time, review, confirm, discard, cancel, refresh."""
    query = update.callback_query
    assert query is not None
    found = await _campaign_for_button(update, context)
    if found is None:
        return
    verb, campaign, arg = found
    handler = _BUTTONS.get(verb)
    if handler is None:
        await _refuse(update, context, "broadcast.forged", query.data or "")
        return
    locale, _, _profile = await user_locale(update, context)
    try:
        await handler(update, context, campaign, arg, locale)
    except BroadcastError as exc:
        await query.answer(error_text(_, exc, context.services)[:200], show_alert=True)


async def _edit_panel(update: Update, context: CareBotContext, campaign: Campaign, locale: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    text, markup = await _panel(context, campaign, locale)
    await edit_or_reply(update, text, markup)


async def _set_group(
    update: Update, context: CareBotContext, campaign: Campaign, arg: str, locale: str
) -> None:
    user = _user_id(update)
    try:
        group = AudienceGroup(arg)
    except ValueError:
        await _refuse(update, context, "broadcast.forged", f"group {arg}")
        return
    campaigns = campaigns_for(context.services)
    campaign = await campaigns.update_draft(campaign.id, user, audience=campaign.audience.with_group(group))
    await _edit_panel(update, context, campaign, locale)


async def _set_district(
    update: Update, context: CareBotContext, campaign: Campaign, arg: str, locale: str
) -> None:
    districts = context.services.settings.districts
    if arg == "*":
        audience = campaign.audience.with_districts(())
    elif arg.isdigit() and int(arg) < len(districts):
        audience = campaign.audience.toggle_district(districts[int(arg)])
    else:
        await _refuse(update, context, "broadcast.forged", f"district {arg}")
        return
    campaign = await campaigns_for(context.services).update_draft(
        campaign.id, _user_id(update), audience=audience
    )
    await _edit_panel(update, context, campaign, locale)


async def _set_language(
    update: Update, context: CareBotContext, campaign: Campaign, arg: str, locale: str
) -> None:
    if arg != "*" and arg not in LOCALES:
        await _refuse(update, context, "broadcast.forged", f"language {arg}")
        return
    audience = campaign.audience.with_language(None if arg == "*" else arg)
    campaign = await campaigns_for(context.services).update_draft(
        campaign.id, _user_id(update), audience=audience
    )
    await _edit_panel(update, context, campaign, locale)


async def _set_when(
    update: Update, context: CareBotContext, campaign: Campaign, arg: str, locale: str
) -> None:
    services = context.services
    if arg == "now":
        moment = None
    elif arg == "am":
        local = services.clock.now().astimezone(services.settings.tz) + dt.timedelta(days=1)
        moment = local.replace(hour=MORNING_HOUR, minute=0, second=0, microsecond=0)
    else:
        await _refuse(update, context, "broadcast.forged", f"when {arg}")
        return
    campaign = await campaigns_for(services).update_draft(campaign.id, _user_id(update), scheduled_at=moment)
    await _edit_panel(update, context, campaign, locale)


async def _show_panel(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    if campaign.state is not CampaignState.DRAFT:
        raise BroadcastError("not_draft")
    await _edit_panel(update, context, campaign, locale)


async def _review(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    """The first step of two: everything that will happen, and one button to make it happen."""
    query = update.callback_query
    assert query is not None
    if campaign.state is not CampaignState.DRAFT:
        raise BroadcastError("not_draft")
    await query.answer()
    services = context.services
    campaigns = campaigns_for(services)
    _ = translator(locale)
    count = await campaigns.count(campaign.audience)
    lines = [
        _("Please check broadcast #{id} before it goes out:", id=campaign.id),
        "",
        audience_line(_, campaign),
        when_line(_, campaign, services),
        *estimate_lines(_, campaigns.estimate(count), locale),
    ]
    rows: list[list[tuple[str, str]]] = []
    if count:
        lines += ["", _("Send it?")]
        rows.append([(_("Yes, send to {n} people", n=number(count, locale)), f"{PREFIX}:go:{campaign.id}")])
    else:
        lines += ["", _("Nobody is in this audience. Go back and choose another one.")]
    rows.append([(_("← Back"), f"{PREFIX}:p:{campaign.id}")])
    await edit_or_reply(update, "\n".join(lines), keyboard(rows))


async def _confirm(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    """The second step: the campaign is scheduled, and this message becomes its progress report."""
    query = update.callback_query
    assert query is not None
    services = context.services
    campaigns = campaigns_for(services)
    campaign = await campaigns.confirm(campaign.id, _user_id(update))
    _ = translator(locale)
    await query.answer(_("Broadcast #{id} is on its way.", id=campaign.id))
    progress = await campaigns.progress(campaign.id)
    shown = await edit_or_reply(
        update, progress_text(_, progress, services, locale), progress_keyboard(_, campaign)
    )
    chat = update.effective_chat
    if shown is not None and chat is not None and chat.id == campaign.author_id:
        await campaigns.set_progress_message(campaign.id, shown.message_id)
    queue: JobQueue[Any] | None = context.job_queue
    if queue is not None:
        ensure_progress_job(queue, campaign.id)
        # Start the fan-out now rather than at the next tick.
        queue.run_once(campaign_tick, when=0.1, name=f"{TICK_JOB}.now")


async def _discard(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    query = update.callback_query
    assert query is not None
    await campaigns_for(context.services).discard(campaign.id, _user_id(update))
    await query.answer()
    _ = translator(locale)
    await edit_or_reply(update, _("Draft #{id} discarded. Nothing was sent.", id=campaign.id), None)


async def _ask_cancel(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    query = update.callback_query
    assert query is not None
    if not campaign.active:
        raise BroadcastError("not_active")
    await query.answer()
    _ = translator(locale)
    progress = await campaigns_for(context.services).progress(campaign.id)
    await reply(
        update,
        _(
            "Cancel broadcast #{id}? The {n} messages not sent yet will be dropped; those already sent stay.",
            id=campaign.id,
            n=number(progress.remaining, locale),
        ),
        keyboard(
            [
                [
                    (_("Yes, cancel it"), f"{PREFIX}:cc:{campaign.id}"),
                    (_("No, keep sending"), f"{PREFIX}:k:{campaign.id}"),
                ]
            ]
        ),
    )


async def _cancel(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    query = update.callback_query
    assert query is not None
    services = context.services
    result = await campaigns_for(services).cancel(campaign.id, _user_id(update))
    await query.answer()
    _ = translator(locale)
    dropped = result.dropped + result.not_queued
    await edit_or_reply(
        update,
        _(
            "Broadcast #{id} cancelled: {n} messages that were not sent yet were dropped.",
            id=campaign.id,
            n=number(dropped, locale),
        ),
        None,
    )
    await update_progress(context.bot, services, campaign.id)


async def _keep(update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    _ = translator(locale)
    await edit_or_reply(update, _("Broadcast #{id} keeps going.", id=campaign.id), None)


async def _refresh(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    services = context.services
    progress = await campaigns_for(services).progress(campaign.id)
    _ = translator(locale)
    await edit_or_reply(
        update, progress_text(_, progress, services, locale), progress_keyboard(_, progress.campaign)
    )


async def _preview_button(
    update: Update, context: CareBotContext, campaign: Campaign, _arg: str, locale: str
) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(translator(locale)(_PREVIEW_BUTTON), show_alert=True)


_BUTTONS = {
    "g": _set_group,
    "d": _set_district,
    "l": _set_language,
    "w": _set_when,
    "p": _show_panel,
    "ok": _review,
    "go": _confirm,
    "x": _discard,
    "c": _ask_cancel,
    "cc": _cancel,
    "k": _keep,
    "r": _refresh,
    "pv": _preview_button,
}


def _user_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None
    return user.id


# -- /broadcasts -----------------------------------------------------------------------------------
async def list_broadcasts(update: Update, context: CareBotContext) -> None:
    """Show the recent campaigns with their figures, and a cancel button for those still running."""
    if not await _is_staff(update, context):
        await _refuse(update, context, "broadcast.refused", "/broadcasts")
        return
    locale, _, _profile = await user_locale(update, context)
    services = context.services
    recent = await campaigns_for(services).recent()
    if not recent:
        await reply(update, _("No broadcasts yet. Send /broadcast to write one."))
        return
    blocks = [_("Recent broadcasts:")]
    rows: list[list[tuple[str, str]]] = []
    for progress in recent:
        c = progress.campaign
        blocks.append("")
        blocks.append(progress_text(_, progress, services, locale))
        if c.active:
            rows.append([(_("Cancel #{id}", id=c.id), f"{PREFIX}:c:{c.id}")])
    await reply(update, "\n".join(blocks), keyboard(rows) if rows else None)


# -- /grant and /revoke ----------------------------------------------------------------------------
async def grant(update: Update, context: CareBotContext) -> None:
    """Give a person staff rights (administrators only): /grant USER_ID."""
    await _grant_or_revoke(update, context, granting=True)


async def revoke(update: Update, context: CareBotContext) -> None:
    """Take staff rights away (administrators only): /revoke USER_ID."""
    await _grant_or_revoke(update, context, granting=False)


async def _grant_or_revoke(update: Update, context: CareBotContext, *, granting: bool) -> None:
    user = update.effective_user
    if user is None:
        return
    _locale, _, _profile = await user_locale(update, context)
    services = context.services
    staff = staff_for(services)
    args = context.args or []
    if not staff.is_admin(user.id):
        await _refuse(update, context, "staff.refused", "/grant" if granting else "/revoke")
        return
    if len(args) != 1 or not args[0].isdigit():
        await reply(update, _("Write the person's numeric Telegram id, for example /grant 123456789."))
        return
    target = int(args[0])
    try:
        changed = await (staff.grant(user.id, target) if granting else staff.revoke(user.id, target))
    except StaffError as exc:
        texts = {
            "configured_admin": _(
                "{user_id} is an administrator in CAREBOT_ADMIN_IDS; change the configuration instead.",
                user_id=target,
            ),
            "bad_user": _("Write the person's numeric Telegram id, for example /grant 123456789."),
        }
        await reply(update, texts.get(exc.code, _("This command is for health commission staff.")))
        return
    await _set_staff_menu(context, target, staff_menu=granting)
    if granting:
        text = (
            _("{user_id} is now commission staff and can use /broadcast.", user_id=target)
            if changed
            else _("{user_id} already is commission staff.", user_id=target)
        )
    else:
        text = (
            _("{user_id} is no longer commission staff.", user_id=target)
            if changed
            else _("{user_id} had no staff rights to take away.", user_id=target)
        )
    await reply(update, text)


async def _set_staff_menu(context: CareBotContext, user_id: int, *, staff_menu: bool) -> None:
    """Show the staff commands in that person's chat, or take them away again."""
    scope = BotCommandScopeChat(user_id)
    try:
        if staff_menu:
            profile = await context.services.accounts.get(user_id)
            _ = translator(profile.language if profile else None)
            commands = [BotCommand(c.name, _(c.description)[:256]) for c in staff_commands()]
            await context.bot.set_my_commands(commands, scope=scope)
        else:
            await context.bot.delete_my_commands(scope=scope)
    except TelegramError as exc:
        # Someone who never started the bot has no chat to set a menu in; their rights hold anyway.
        log.warning("could not change the command menu of a staff chat: %s", exc.__class__.__name__)


# -- jobs ------------------------------------------------------------------------------------------
async def update_progress(bot: Any, services: Services, campaign_id: int) -> bool:
    """Edit the author's progress message with the latest figures; True once it needs no more edits.

    Called by the progress job every 30 s (tests call it directly with the fake clock). The database
    decides who edits and when, so several bot processes do not edit the same message in turn.
    """
    campaigns = campaigns_for(services)
    progress = await campaigns.progress(campaign_id)
    campaign = progress.campaign
    if campaign.author_id is None or campaign.progress_message_id is None:
        return True
    final = progress.finished
    if not await campaigns.claim_progress_update(campaign_id, interval=PROGRESS_MIN_INTERVAL, final=final):
        return final
    profile = await services.accounts.get(campaign.author_id)
    locale = normalize_locale(profile.language if profile else None)
    _ = translator(locale)
    try:
        await bot.edit_message_text(
            progress_text(_, progress, services, locale),
            chat_id=campaign.author_id,
            message_id=campaign.progress_message_id,
            reply_markup=progress_keyboard(_, campaign),
            parse_mode=None,
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            # The message is gone: stop trying; /broadcasts still shows the figures.
            await campaigns.claim_progress_update(campaign_id, interval=PROGRESS_MIN_INTERVAL, final=True)
            return True
    except Forbidden:
        await campaigns.claim_progress_update(campaign_id, interval=PROGRESS_MIN_INTERVAL, final=True)
        return True
    return final


def progress_job_name(campaign_id: int) -> str:
    return f"broadcast.progress.{campaign_id}"


def ensure_progress_job(queue: JobQueue[Any], campaign_id: int) -> None:
    """One progress job per running campaign: the job holds only the campaign's id."""
    name = progress_job_name(campaign_id)
    if not queue.get_jobs_by_name(name):
        queue.run_repeating(
            progress_job, interval=PROGRESS_INTERVAL, first=PROGRESS_INTERVAL, name=name, data=campaign_id
        )


async def progress_job(context: CareBotContext) -> None:
    job = context.job
    assert job is not None and isinstance(job.data, int)
    try:
        done = await update_progress(context.bot, context.services, job.data)
    except Exception:
        log.exception("updating a broadcast's progress message failed")
        return
    if done:
        job.schedule_removal()


async def campaign_tick(context: CareBotContext) -> None:
    """Start due campaigns, fan out within the time budget, close finished ones; after a restart this
    also brings back the progress jobs of the campaigns still running."""
    services = context.services
    campaigns = campaigns_for(services)
    deadline = time.monotonic() + TICK_BUDGET
    try:
        while True:
            report = await campaigns.advance(max_chunks=TICK_CHUNKS)
            if report.queued:
                log.info("queued %d broadcast messages", report.queued)
            if not report.queued or time.monotonic() >= deadline:
                break
        if context.job_queue is not None:
            for campaign in await campaigns.open_progress():
                ensure_progress_job(context.job_queue, campaign.id)
    except Exception:
        # The next tick carries on from the database; nothing is lost.
        log.exception("moving broadcast campaigns along failed")


def register(app: CareBotApp) -> None:
    text = filters.TEXT & ~filters.COMMAND
    with warnings.catch_warnings():
        # Button presses are tracked per chat, not per message: one text or time prompt at a time per
        # staff member is what this wants; the buttons themselves carry the draft's id.
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        conversation = ConversationHandler(
            entry_points=[
                CommandHandler("broadcast", start_broadcast),
                CallbackQueryHandler(change_text_button, pattern=rf"^{PREFIX}:tx:"),
                CallbackQueryHandler(choose_time_button, pattern=rf"^{PREFIX}:at:"),
            ],
            states={TEXT: [MessageHandler(text, receive_text)], WHEN: [MessageHandler(text, receive_time)]},
            fallbacks=[CommandHandler("cancel", cancel_compose)],
            name="broadcast",
            allow_reentry=True,
        )
    app.add_handler(conversation)
    app.add_handler(CommandHandler("broadcasts", list_broadcasts))
    app.add_handler(CommandHandler("grant", grant))
    app.add_handler(CommandHandler("revoke", revoke))
    app.add_handler(CallbackQueryHandler(button, pattern=rf"^{PREFIX}:"))
    mark_available("broadcast", "broadcasts")


def install_jobs(app: CareBotApp) -> None:
    """Schedule the campaign job (call from post_init, when the bot really runs); it is named and
    replaced, never duplicated, and brings back the progress jobs of campaigns still running."""
    queue: JobQueue[Any] | None = app.job_queue
    if queue is None:
        return
    for job in queue.get_jobs_by_name(TICK_JOB):
        job.schedule_removal()
    queue.run_repeating(campaign_tick, interval=TICK_INTERVAL, first=TICK_INTERVAL, name=TICK_JOB)
