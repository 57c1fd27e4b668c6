"""/stats for commission staff: the city's figures and the questions the bot could not answer."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.app import CareBotApp, CareBotContext
from bot.figures import commission_report
from bot.menu import mark_available
from handlers.common import reply, user_locale


async def stats(update: Update, context: CareBotContext) -> None:
    """Show the city's figures to staff; tell anyone else it is for staff."""
    locale, _, _profile = await user_locale(update, context)
    user = update.effective_user
    services = context.services
    if user is None or not await services.staff.is_staff(user.id):
        await reply(update, _("This command is for health commission staff."))
        return
    await reply(update, await commission_report(services.answers, services.db, services.settings, locale))


def register(app: CareBotApp) -> None:
    app.add_handler(CommandHandler("stats", stats))
    mark_available("stats")
