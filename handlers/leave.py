"""/leave: a walk-through for one's own maternity, paternity and parental leave.

Province (the city's own offered first), birth or due date, child order, multiples, difficult birth;
then the plan from the core. Free-text leave questions are answered in ``handlers/questions.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler, filters
from telegram.warnings import PTBUserWarning

from bot.app import CareBotApp, CareBotContext
from bot.leave_plans import input_error_text, render_plan
from bot.menu import mark_available
from handlers.common import edit_or_reply, keyboard, reply, user_locale
from knowledge import leave
from knowledge.leave import LeaveInputError

PROVINCE, BIRTH_DATE, CHILD_ORDER, BABIES, DIFFICULT = range(5)
POPULAR = ("广东", "浙江", "江苏", "上海", "北京", "四川")


def _draft(context: CareBotContext) -> dict[str, Any]:
    data = context.user_data
    assert data is not None
    return data.setdefault("leave", {})


async def start_leave(update: Update, context: CareBotContext) -> int:
    """Ask for the province, offering the city's own first."""
    _locale, _, _profile = await user_locale(update, context)
    _draft(context).clear()
    home = context.services.settings.province
    names = [home, *[p for p in POPULAR if p != home]]
    rows = [[(name, f"lv:p:{name}") for name in names[i : i + 4]] for i in range(0, len(names), 4)]
    await reply(
        update,
        _(
            "Let's work out your leave. Which province is your job in? Pick one or type its name (send /cancel to stop)."
        ),
        keyboard(rows),
    )
    return PROVINCE


async def _set_province(update: Update, context: CareBotContext, name: str) -> int:
    locale, _, _profile = await user_locale(update, context)
    try:
        province = context.services.leave.resolve(name)
    except LeaveInputError as exc:
        await reply(update, input_error_text(exc, locale))
        return PROVINCE
    _draft(context)["province"] = province
    await edit_or_reply(
        update,
        _(
            "{province}. When was (or is) the baby due? Type the date, for example 2026-03-05.",
            province=province,
        ),
    )
    return BIRTH_DATE


async def province_button(update: Update, context: CareBotContext) -> int:
    """Take the province from a button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    return await _set_province(update, context, query.data.removeprefix("lv:p:"))


async def province_text(update: Update, context: CareBotContext) -> int:
    """Take the province from typed text."""
    assert update.effective_message is not None
    return await _set_province(update, context, update.effective_message.text or "")


async def birth_date_text(update: Update, context: CareBotContext) -> int:
    """Read the birth or due date and ask for the child's birth order."""
    assert update.effective_message is not None
    locale, _, _profile = await user_locale(update, context)
    text = update.effective_message.text or ""
    try:
        birth_date = leave.parse_date(text)
        today = context.services.clock.now().astimezone(context.services.settings.tz).date()
        leave.validate_birth_date(birth_date, today)
    except LeaveInputError as exc:
        await reply(update, input_error_text(exc, locale))
        return BIRTH_DATE
    _draft(context)["birth_date"] = birth_date
    await reply(
        update,
        _("Which child is this for the mother?"),
        keyboard(
            [
                [
                    (_("First"), "lv:o:1"),
                    (_("Second"), "lv:o:2"),
                    (_("Third"), "lv:o:3"),
                    (_("Fourth or later"), "lv:o:4"),
                ]
            ]
        ),
    )
    return CHILD_ORDER


async def child_order_button(update: Update, context: CareBotContext) -> int:
    """Record the child order and ask about multiples."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _locale, _, _profile = await user_locale(update, context)
    _draft(context)["child_order"] = int(query.data.removeprefix("lv:o:"))
    await edit_or_reply(
        update,
        _("How many babies?"),
        keyboard([[(_("One"), "lv:b:1"), (_("Twins"), "lv:b:2"), (_("Triplets"), "lv:b:3")]]),
    )
    return BABIES


async def babies_button(update: Update, context: CareBotContext) -> int:
    """Record the number of babies and ask about a difficult birth."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _locale, _, _profile = await user_locale(update, context)
    _draft(context)["babies"] = int(query.data.removeprefix("lv:b:"))
    await edit_or_reply(
        update,
        _("Was it (or is it expected to be) a difficult birth, certified by the hospital?"),
        keyboard([[(_("No"), "lv:d:0"), (_("Yes"), "lv:d:1")]]),
    )
    return DIFFICULT


async def difficult_button(update: Update, context: CareBotContext) -> int:
    """Compute and show the plan."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    locale, _, _profile = await user_locale(update, context)
    draft = _draft(context)
    try:
        plan = context.services.leave.plan(
            draft["province"],
            draft["birth_date"],
            child_order=draft.get("child_order", 1),
            babies=draft.get("babies", 1),
            difficult=query.data == "lv:d:1",
        )
    except (LeaveInputError, KeyError) as exc:
        text = (
            input_error_text(exc, locale)
            if isinstance(exc, LeaveInputError)
            else _("That step has expired. Send /leave to start again.")
        )
        await edit_or_reply(update, text)
        return ConversationHandler.END
    draft.clear()
    await edit_or_reply(update, render_plan(plan, locale))
    return ConversationHandler.END


async def cancel(update: Update, context: CareBotContext) -> int:
    """Stop the walk-through."""
    _locale, _, _profile = await user_locale(update, context)
    _draft(context).clear()
    await reply(update, _("Stopped. Send /leave to start again, or ask me anything."))
    return ConversationHandler.END


async def not_understood(update: Update, context: CareBotContext) -> None:
    """Keep the conversation going when the input does not fit the step."""
    _locale, _, _profile = await user_locale(update, context)
    await reply(update, _("Please use the buttons above, or send /cancel to stop."))


def register(app: CareBotApp) -> None:
    text = filters.TEXT & ~filters.COMMAND
    with warnings.catch_warnings():
        # PTB warns that buttons are tracked per chat rather than per message; per chat is what this
        # walk-through wants (one /leave at a time per person).
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        conversation = ConversationHandler(
            entry_points=[CommandHandler("leave", start_leave)],
            states={
                PROVINCE: [
                    CallbackQueryHandler(province_button, pattern=r"^lv:p:"),
                    MessageHandler(text, province_text),
                ],
                BIRTH_DATE: [MessageHandler(text, birth_date_text)],
                CHILD_ORDER: [
                    CallbackQueryHandler(child_order_button, pattern=r"^lv:o:\d$"),
                    MessageHandler(text, not_understood),
                ],
                BABIES: [
                    CallbackQueryHandler(babies_button, pattern=r"^lv:b:\d$"),
                    MessageHandler(text, not_understood),
                ],
                DIFFICULT: [
                    CallbackQueryHandler(difficult_button, pattern=r"^lv:d:[01]$"),
                    MessageHandler(text, not_understood),
                ],
            },
            fallbacks=[CommandHandler(["cancel", "leave"], cancel)],
            name="leave",
            allow_reentry=True,
        )
    app.add_handler(conversation)
    mark_available("leave")
