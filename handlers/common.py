"""Helpers every handler module shares: who is talking, in which language, and sending replies.

Nothing here decides anything; it only adapts Telegram objects to the core and back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.accounts import Profile
from bot.app import CareBotContext
from bot.i18n import Translate, normalize_locale, translator
from bot.textutil import split_message


async def profile_of(update: Update, context: CareBotContext) -> Profile | None:
    user = update.effective_user
    if user is None:
        return None
    return await context.services.accounts.get(user.id)


def locale_for(update: Update, profile: Profile | None) -> str:
    """The stored choice wins over Telegram's language; Simplified Chinese is the default."""
    if profile and profile.language:
        return normalize_locale(profile.language)
    user = update.effective_user
    return normalize_locale(user.language_code if user else None)


async def user_locale(update: Update, context: CareBotContext) -> tuple[str, Translate, Profile | None]:
    profile = await profile_of(update, context)
    locale = locale_for(update, profile)
    return locale, translator(locale), profile


def keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """An inline keyboard from rows of (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


async def reply(
    update: Update,
    text: str,
    markup: Any = None,
    *,
    html: bool = False,
) -> Message | None:
    """Answer in the chat the update came from, split to Telegram's size; buttons go on the last part."""
    chat = update.effective_chat
    if chat is None:
        return None
    parts = split_message(text)
    sent: Message | None = None
    for index, part in enumerate(parts):
        sent = await chat.send_message(
            part,
            reply_markup=markup if index == len(parts) - 1 else None,
            parse_mode=ParseMode.HTML if html else None,
        )
    return sent


async def edit_or_reply(
    update: Update, text: str, markup: Any = None, *, html: bool = False
) -> Message | None:
    """Replace the message a button was pressed on; send a new one when that is not possible. Returns the
    message now showing the text."""
    query = update.callback_query
    if query is not None and isinstance(query.message, Message) and len(text) <= 4096:
        try:
            edited = await query.edit_message_text(
                text, reply_markup=markup, parse_mode=ParseMode.HTML if html else None
            )
            return edited if isinstance(edited, Message) else query.message
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return query.message
            # The message is gone or too old to edit: fall through and send a fresh one.
    return await reply(update, text, markup, html=html)


async def drop_buttons(update: Update, pressed: Callable[[str], bool]) -> None:
    """Take the buttons whose callback data ``pressed`` matches off the message they were pressed on, so
    they cannot be pressed twice; the others stay."""
    query = update.callback_query
    message = query.message if query else None
    markup = getattr(message, "reply_markup", None)
    if query is None or markup is None:
        return
    rows = [
        [b for b in row if not (b.callback_data and pressed(str(b.callback_data)))]
        for row in markup.inline_keyboard
    ]
    rows = [row for row in rows if row]
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
    except BadRequest:
        pass  # the message is too old to edit, or unchanged: the buttons stay, pressing again is harmless
