"""Small text helpers for anything the bot shows or reads: control characters, length limits.

Telegram refuses messages over 4,096 characters; people paste odd bytes. Both are handled here.
"""

from __future__ import annotations

import re
import unicodedata

TELEGRAM_LIMIT = 4096
_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)


def clean(text: str, *, limit: int | None = None) -> str:
    """Drop control and direction-override characters, normalise, and optionally cut to ``limit``."""
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split a long text into Telegram-sized parts, preferring paragraph and line breaks."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest:
        parts.append(rest)
    return parts
