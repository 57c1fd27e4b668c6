"""The last word: unknown commands, buttons from old messages, and messages the bot cannot read.

Registered last in the handler group, so that every specific handler had its chance first (within a
group PTB runs only the first handler that matches).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.app import CareBotApp, CareBotContext
from bot.textutil import clean
from handlers.common import reply, user_locale


async def unknown_command(update: Update, context: CareBotContext) -> None:
    """Say the command is unknown and point to /help."""
    _locale, _, _profile = await user_locale(update, context)
    message = update.effective_message
    command = (message.text or "").split(maxsplit=1)[0] if message else ""
    command = clean(command.split("@", 1)[0], limit=40)
    await reply(
        update, _("I don't know the command {command}. Send /help to see what I can do.", command=command)
    )


async def unsupported_message(update: Update, context: CareBotContext) -> None:
    """Explain what kinds of messages the bot understands."""
    _locale, _, _profile = await user_locale(update, context)
    await reply(
        update,
        _(
            "I can read text messages and shared locations. Write your question in words, share your location "
            "to find nurseries, or send /help."
        ),
    )


async def unhandled_text(update: Update, context: CareBotContext) -> None:
    """Reply to text no other handler took, with a way forward."""
    _locale, _, _profile = await user_locale(update, context)
    await reply(update, _("I'm not sure what you mean. Send /help to see what I can do."))


async def stale_button(update: Update, context: CareBotContext) -> None:
    """Answer presses on buttons no handler knows (old or forged) instead of leaving a spinner."""
    query = update.callback_query
    assert query is not None
    _locale, _, _profile = await user_locale(update, context)
    await query.answer(_("This button has expired. Send /help to start again."), show_alert=False)


def register(app: CareBotApp) -> None:
    app.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    app.add_handler(
        MessageHandler(
            ~filters.COMMAND & ~filters.TEXT & ~filters.LOCATION & ~filters.StatusUpdate.ALL,
            unsupported_message,
        ),
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, unhandled_text))
    app.add_handler(CallbackQueryHandler(stale_button))
