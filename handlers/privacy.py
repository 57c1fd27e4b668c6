"""/mydata, /forget, /subscribe and /unsubscribe: a person's control over what the bot keeps and sends.

Deletion goes through the core, which knows every table that names a person.
"""

from __future__ import annotations

import json

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.app import CareBotApp, CareBotContext
from bot.menu import mark_available
from handlers.common import edit_or_reply, keyboard, reply, user_locale


async def mydata(update: Update, context: CareBotContext) -> None:
    """Send back everything stored about the person."""
    _locale, _, _profile = await user_locale(update, context)
    user = update.effective_user
    assert user is not None
    data = await context.services.accounts.export(user.id)
    if not data:
        await reply(update, _("I store nothing about you."))
        return
    dump = json.dumps(data, ensure_ascii=False, indent=2)
    await reply(update, _("This is everything I store about you:") + "\n\n" + dump)


async def forget(update: Update, context: CareBotContext) -> None:
    """Ask for confirmation before deleting everything."""
    _locale, _, _profile = await user_locale(update, context)
    await reply(
        update,
        _(
            "This deletes everything I store about you: language, role, district, consent, linked nursery and "
            "any messages waiting for you. It cannot be undone. Delete?"
        ),
        keyboard([[(_("Yes, delete everything"), "fg:yes")], [(_("No, keep it"), "fg:no")]]),
    )


async def forget_confirmed(update: Update, context: CareBotContext) -> None:
    """Delete or keep, as the person chose."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    _locale, _, _profile = await user_locale(update, context)
    if query.data == "fg:yes":
        await context.services.accounts.forget(query.from_user.id)
        await edit_or_reply(
            update, _("Done: everything about you is deleted. Send /start if you want to begin again.")
        )
    else:
        await edit_or_reply(update, _("Nothing was deleted."))


async def subscribe(update: Update, context: CareBotContext) -> None:
    """Turn the commission's guidance on."""
    await _set_broadcasts(update, context, True)


async def unsubscribe(update: Update, context: CareBotContext) -> None:
    """Turn the commission's guidance off."""
    await _set_broadcasts(update, context, False)


async def subscription_button(update: Update, context: CareBotContext) -> None:
    """The on/off button under each broadcast."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await _set_broadcasts(update, context, query.data == "sub:on")


async def _set_broadcasts(update: Update, context: CareBotContext, enabled: bool) -> None:
    _locale, _, _profile = await user_locale(update, context)
    user = update.effective_user
    assert user is not None
    await context.services.accounts.touch(user.id)
    await context.services.accounts.set_broadcasts(user.id, enabled)
    await reply(
        update,
        _("You will receive the commission's guidance. /unsubscribe turns it off.")
        if enabled
        else _("You will no longer receive the commission's guidance. /subscribe turns it back on."),
    )


def register(app: CareBotApp) -> None:
    app.add_handler(CommandHandler("mydata", mydata))
    app.add_handler(CommandHandler("forget", forget))
    app.add_handler(CommandHandler("subscribe", subscribe))
    app.add_handler(CommandHandler("unsubscribe", unsubscribe))
    app.add_handler(CallbackQueryHandler(forget_confirmed, pattern=r"^fg:(yes|no)$"))
    app.add_handler(CallbackQueryHandler(subscription_button, pattern=r"^sub:(on|off)$"))
    mark_available("mydata", "forget", "subscribe", "unsubscribe")
