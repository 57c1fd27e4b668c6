"""Every user-facing string is in the catalogs, translated, with the same placeholders."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bot.i18n import EN, ZH_HANS, ZH_HANT, normalize_locale, translations, translator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import messages  # noqa: E402

PLACEHOLDER = re.compile(r"\{(\w*)\}")


@pytest.fixture(scope="module")
def msgids() -> list[str]:
    return [m.id for m in messages.extract() if m.id and isinstance(m.id, str)]


@pytest.mark.parametrize("locale", [ZH_HANS, ZH_HANT])
def test_every_message_is_translated(msgids: list[str], locale: str) -> None:
    catalog = translations(locale)
    missing = [m for m in msgids if catalog.gettext(m) == m]
    assert not missing, f"{len(missing)} untranslated in {locale} (run scripts/messages.py): {missing[:5]}"


@pytest.mark.parametrize("locale", [ZH_HANS, ZH_HANT, EN])
def test_placeholders_survive_translation(msgids: list[str], locale: str) -> None:
    catalog = translations(locale)
    for msgid in msgids:
        assert sorted(PLACEHOLDER.findall(catalog.gettext(msgid))) == sorted(PLACEHOLDER.findall(msgid)), (
            msgid
        )


def test_traditional_catalog_is_traditional() -> None:
    _ = translator(ZH_HANT)
    assert "語言" in _("Choose your language:")


@pytest.mark.parametrize(
    ("code", "locale"),
    [(None, ZH_HANS), ("zh", ZH_HANS), ("zh-hans", ZH_HANS), ("zh-CN", ZH_HANS), ("zh-hant", ZH_HANT),
     ("zh-TW", ZH_HANT), ("zh-hk", ZH_HANT), ("en", EN), ("en-GB", EN), ("ru", ZH_HANS), ("zh_Hant", ZH_HANT)],
)  # fmt: skip
def test_locale_from_telegram_language(code: str | None, locale: str) -> None:
    assert normalize_locale(code) == locale
