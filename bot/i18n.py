"""Interface languages: Babel gettext catalogs for zh_Hans (default), zh_Hant and en.

Catalogs ship as ``.po`` files and are compiled in memory on first use, so a plain ``pip install``
needs no build step. msgids are English.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from knowledge.text import to_traditional

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "carebot"
ZH_HANS = "zh_Hans"
ZH_HANT = "zh_Hant"
EN = "en"
LOCALES = (ZH_HANS, ZH_HANT, EN)
DEFAULT_LOCALE = ZH_HANS

# The name each language is shown under in the language picker, always in its own script.
LANGUAGE_NAMES = {ZH_HANS: "简体中文", ZH_HANT: "繁體中文", EN: "English"}

Translate = Callable[..., str]


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


@functools.cache
def translations(locale: str) -> NullTranslations:
    po_path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale.replace("_Hans", "").replace("_Hant", "") or None)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def normalize_locale(value: str | None) -> str:
    """Map a stored choice or a Telegram ``language_code`` to one of LOCALES."""
    if not value:
        return DEFAULT_LOCALE
    code = value.replace("_", "-").lower()
    if code in ("zh-hant", "zh-tw", "zh-hk", "zh-mo") or code.startswith("zh-hant"):
        return ZH_HANT
    if code.startswith("zh"):
        return ZH_HANS
    if code.startswith("en"):
        return EN
    return DEFAULT_LOCALE


def translator(locale: str | None) -> Translate:
    """Return ``_(msgid, **kwargs)`` for a locale; keyword arguments fill ``{placeholders}``."""
    catalog = translations(normalize_locale(locale))

    def _(message: str, /, **kwargs: Any) -> str:
        text = catalog.gettext(message)
        return text.format(**kwargs) if kwargs else text

    return _


def ntranslator(locale: str | None) -> Callable[..., str]:
    catalog = translations(normalize_locale(locale))

    def ngettext(singular: str, plural: str, n: int, /, **kwargs: Any) -> str:
        text = catalog.ngettext(singular, plural, n)
        return text.format(n=n, **kwargs)

    return ngettext


def in_script(text: str, locale: str | None) -> str:
    """Text written in Simplified Chinese (the knowledge base, the register), as the reader writes it:
    converted for Traditional readers, unchanged for everyone else."""
    return to_traditional(text) if normalize_locale(locale) == ZH_HANT else text
