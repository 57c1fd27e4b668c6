"""The error handler: log what failed (never the message text) and tell the person, without details."""

from __future__ import annotations

import logging

from telegram import Update

from bot.app import CareBotContext
from handlers.common import reply, user_locale

log = logging.getLogger("carebot.errors")


async def on_error(update: object, context: CareBotContext) -> None:
    """Log the failure and apologise to the person it happened to."""
    error = context.error
    kind = "callback" if isinstance(update, Update) and update.callback_query else "message"
    log.error(
        "update handling failed (%s): %s",
        kind,
        error.__class__.__name__ if error else "unknown",
        exc_info=error,
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        _locale, _, _profile = await user_locale(update, context)
    except Exception:  # the database may be what failed; fall back to the default language
        from bot.i18n import translator

        _ = translator(None)
    try:
        await reply(
            update, _("Sorry, something went wrong on my side. Please try again in a moment, or send /help.")
        )
    except Exception:
        log.warning("could not tell the user about the failure")
