"""/tasks for nursery operators (their deadlines, with "done" and "remind me later"), the reminders'
buttons, and /overdue for commission staff (overdue nurseries by district).
"""

from __future__ import annotations

import itertools

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.app import CareBotApp, CareBotContext
from bot.i18n import Translate
from bot.menu import mark_available
from bot.services import Services
from handlers.common import drop_buttons, reply, user_locale
from schedules.compliance import (
    DONE_PREFIX,
    Compliance,
    ComplianceError,
    describe,
    obligation_buttons,
    parse_button_data,
)
from schedules.templates import RenderContext

# Telegram shows at most 100 buttons; a long /overdue is cut per district rather than split mid-list.
MAX_TASK_BUTTONS = 12
MAX_PER_DISTRICT = 25


def compliance_for(services: Services) -> Compliance:
    return Compliance.from_settings(services.db, services.clock, services.settings)


def render_context(services: Services, locale: str) -> RenderContext:
    return RenderContext(locale=locale, now=services.clock.now(), tz=services.settings.tz)


async def tasks(update: Update, context: CareBotContext) -> None:
    """List the operator's upcoming and overdue obligations, with their buttons."""
    user = update.effective_user
    if user is None:
        return
    locale, _, _profile = await user_locale(update, context)
    obligations = await compliance_for(context.services).tasks_for(user.id)
    if not obligations:
        await reply(
            update,
            _(
                "No deadlines to show. If you run a nursery, link it first with /claim and the code the health "
                "commission gave you."
            ),
        )
        return
    ctx = render_context(context.services, locale)
    lines = [_("Your deadlines:"), ""]
    lines += [f"{i}. {'✓ ' if o.done else ''}{describe(o, ctx)}" for i, o in enumerate(obligations, start=1)]
    markup = obligation_buttons(obligations[:MAX_TASK_BUTTONS], ctx)
    await reply(
        update,
        "\n".join(lines),
        InlineKeyboardMarkup.de_json(markup, context.bot) if markup["inline_keyboard"] else None,
    )


async def obligation_button(update: Update, context: CareBotContext) -> None:
    """A reminder's "Done" or "Remind me later" button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    parsed = parse_button_data(query.data)
    locale, _, _profile = await user_locale(update, context)
    if parsed is None:
        await query.answer()
        return
    prefix, institution_id, rule_id, cycle = parsed
    compliance = compliance_for(context.services)
    ctx = render_context(context.services, locale)
    try:
        if prefix == DONE_PREFIX:
            result = await compliance.mark_done(query.from_user.id, institution_id, rule_id, cycle)
            title = _(result.obligation.rule.title)
            text = (
                _("Already marked done: {title}.", title=title)
                if result.already
                else _("Marked done: {title}. No more reminders for it this time.", title=title)
            )
        else:
            until = await compliance.snooze(query.from_user.id, institution_id, rule_id, cycle)
            text = _("I'll remind you again on {date}.", date=ctx.date(until.astimezone(ctx.tz).date()))
    except ComplianceError as exc:
        await query.answer(_refusal(_, exc.code), show_alert=True)
        return
    await query.answer(text)
    suffix = f":{institution_id}:{rule_id}:{cycle}"
    await drop_buttons(update, lambda data: data.endswith(suffix))


async def overdue(update: Update, context: CareBotContext) -> None:
    """List the nurseries with escalated, overdue obligations, by district (commission staff only)."""
    user = update.effective_user
    if user is None:
        return
    locale, _, profile = await user_locale(update, context)
    if not await context.services.staff.is_staff(user.id):
        await reply(update, _("This command is for health commission staff."))
        return
    found = await compliance_for(context.services).overdue()
    if not found:
        await reply(update, _("No nursery is overdue. 🎉"))
        return
    ctx = render_context(context.services, locale)
    nurseries = len({o.nursery.id for o in found})
    lines = [_("Overdue nurseries: {n}", n=nurseries)]
    unknown = _("District unknown")
    for district, group in itertools.groupby(found, key=lambda o: o.nursery.district):
        items = list(group)
        lines += ["", f"{district or unknown} ({len({o.nursery.id for o in items})})"]
        lines += [f"• {describe(o, ctx)}" for o in items[:MAX_PER_DISTRICT]]
        if len(items) > MAX_PER_DISTRICT:
            lines.append(_("… and {n} more", n=len(items) - MAX_PER_DISTRICT))
    await reply(update, "\n".join(lines))


def _refusal(_: Translate, code: str) -> str:
    refusals = {
        "not_operator": _("Only an operator linked to this nursery can do that."),
        "not_markable": _("This one is done when the register shows it; nothing to mark."),
        "already_done": _("This is already marked done."),
    }
    return refusals.get(code, _("This reminder is out of date; send /tasks for the current list."))


def register(app: CareBotApp) -> None:
    app.add_handler(CommandHandler("tasks", tasks))
    app.add_handler(CommandHandler("overdue", overdue))
    app.add_handler(CallbackQueryHandler(obligation_button, pattern=r"^tk:[dl]:"))
    mark_available("tasks", "overdue")
