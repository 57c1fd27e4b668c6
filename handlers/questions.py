"""Free-text questions: the knowledge-base answer with its source, feedback and follow-up buttons.

Any text that is not a command and that no other conversation is waiting for lands here.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.answers import HELPFUL, NOT_HELPFUL, RenderedAnswer
from bot.app import CareBotApp, CareBotContext
from bot.i18n import Translate
from handlers.common import drop_buttons, keyboard, reply, user_locale

MAX_CALLBACK_BYTES = 64


def _topic_rows(answer: RenderedAnswer) -> list[list[tuple[str, str]]]:
    rows = []
    for topic in answer.related:
        data = f"q:{topic.entry_id}"
        if len(data.encode()) <= MAX_CALLBACK_BYTES:
            rows.append([(f"❓ {topic.title}"[:60], data)])
    return rows


def answer_markup(_: Translate, answer: RenderedAnswer) -> object:
    rows: list[list[tuple[str, str]]] = []
    if answer.entry_id and len(f"fb:1:{answer.entry_id}".encode()) <= MAX_CALLBACK_BYTES:
        rows.append([(_(HELPFUL), f"fb:1:{answer.entry_id}"), (_(NOT_HELPFUL), f"fb:0:{answer.entry_id}")])
    rows += _topic_rows(answer)
    return keyboard(rows) if rows else None


async def question(update: Update, context: CareBotContext) -> None:
    """Answer a free-text question from the knowledge base."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    locale, _, _profile = await user_locale(update, context)
    answer = await context.services.answers.answer(message.text, locale)
    await reply(update, answer.text, answer_markup(_, answer))


async def topic(update: Update, context: CareBotContext) -> None:
    """Show the entry a related-topic button points to."""
    query = update.callback_query
    assert query is not None and query.data is not None
    locale, _, _profile = await user_locale(update, context)
    entry = context.services.answers.entry(query.data.removeprefix("q:"))
    if entry is None:
        await query.answer(_("This button has expired. Send /help to start again."))
        return
    await query.answer()
    answer = context.services.answers.render_entry(entry, locale)
    await reply(update, answer.text, answer_markup(_, answer))


async def feedback(update: Update, context: CareBotContext) -> None:
    """Store a helpful / not helpful vote and thank the person."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _locale, _, _profile = await user_locale(update, context)
    _prefix, vote, entry_id = query.data.split(":", 2)
    stored = await context.services.answers.feedback(entry_id, vote == "1")
    await query.answer(
        _("Thank you for your feedback.")
        if stored
        else _("This button has expired. Send /help to start again.")
    )
    if stored:
        # Keep the follow-up questions, drop the vote buttons so one answer gets one vote.
        await drop_buttons(update, lambda data: data.startswith("fb:"))


def register(app: CareBotApp) -> None:
    app.add_handler(CallbackQueryHandler(feedback, pattern=r"^fb:[01]:"))
    app.add_handler(CallbackQueryHandler(topic, pattern=r"^q:"))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, question))
