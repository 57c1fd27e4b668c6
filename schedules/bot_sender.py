"""The Telegram side of the dispatcher: sends an ``OutgoingMessage`` with a PTB ``Bot`` and turns the Bot
API's answers (429, 403, 400, 5xx, timeouts) into the dispatcher's channel-neutral delivery errors.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from schedules.dispatcher import (
    ChannelUnavailable,
    OutgoingMessage,
    PermanentFailure,
    RateLimited,
    RecipientBlocked,
    Sender,
    TransientFailure,
)


def bot_sender(bot: Bot) -> Sender:
    """A dispatcher ``Sender`` over ``bot.send_message``."""

    async def send(message: OutgoingMessage) -> int | None:
        markup = None
        extra: dict[str, Any] = {}
        raw = message.reply_markup
        if raw and _plain_inline_keyboard(raw):
            # The keyboard already has the Bot API's shape: handed over as JSON, it skips building one PTB
            # object per button and serialising them back, which cost more than the send itself.
            extra["api_kwargs"] = {"reply_markup": raw}
        elif raw:
            markup = InlineKeyboardMarkup.de_json(raw, bot)
        if message.paid_broadcast:
            extra["allow_paid_broadcast"] = True
        try:
            sent = await bot.send_message(
                chat_id=message.chat_id,
                text=message.text,
                parse_mode=message.parse_mode,
                reply_markup=markup,
                **extra,
            )
        except RetryAfter as exc:
            raise RateLimited(retry_after_seconds(exc)) from exc
        except Forbidden as exc:
            raise RecipientBlocked(str(exc)) from exc
        except InvalidToken as exc:
            raise ChannelUnavailable("the bot token was refused") from exc
        except (BadRequest, ChatMigrated) as exc:  # subclasses of NetworkError/TelegramError: first
            raise PermanentFailure(str(exc)) from exc
        except NetworkError as exc:  # connection errors, timeouts and 5xx answers
            raise TransientFailure(str(exc)) from exc
        except TelegramError as exc:
            raise PermanentFailure(str(exc)) from exc
        return sent.message_id

    return send


def _plain_inline_keyboard(markup: dict[str, Any]) -> bool:
    """True for ``{"inline_keyboard": [[button, ...], ...]}`` with buttons of JSON scalars only: what PTB
    would send back unchanged. Anything else still goes through ``InlineKeyboardMarkup`` (and its checks)."""
    rows = markup.get("inline_keyboard")
    if len(markup) != 1 or type(rows) is not list:
        return False
    for row in rows:
        if type(row) is not list:
            return False
        for button in row:
            if type(button) is not dict or type(button.get("text")) is not str:
                return False
            for value in button.values():
                if type(value) not in _SCALARS:
                    return False
    return True


_SCALARS = frozenset({str, int, bool})


def retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns on reading ``retry_after`` unless PTB_TIMEDELTA is set; both of its shapes are handled.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)
