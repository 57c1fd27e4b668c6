"""Refresh the translation catalogs: extract msgids, merge them into each locale, fill zh_Hant.

zh_Hant is derived from zh_Hans with OpenCC (s2t) wherever a translator has not written it by hand.
Run: python scripts/messages.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import opencc
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "bot" / "locales"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
AUTO_FLAG = "s2t"


def extract() -> Catalog:
    template = Catalog(project="carebot", charset="utf-8")
    for folder in ("bot", "handlers", "schedules"):
        for filename, lineno, message, comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            template.add(message, locations=[(f"{folder}/{filename}", lineno)], auto_comments=comments)
    return template


def load(locale: str) -> Catalog:
    path = LOCALES / locale / "LC_MESSAGES" / "carebot.po"
    if path.exists():
        with path.open("rb") as f:
            return read_po(f, locale=locale.split("_")[0])
    return Catalog(locale=locale.split("_")[0], project="carebot", charset="utf-8")


def save(locale: str, catalog: Catalog) -> None:
    path = LOCALES / locale / "LC_MESSAGES" / "carebot.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=0, omit_header=False, sort_output=True, ignore_obsolete=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a msgid lacks a zh_Hans translation")
    args = parser.parse_args()
    template = extract()
    catalogs = {}
    for locale in ("zh_Hans", "en", "zh_Hant"):
        catalog = load(locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalogs[locale] = catalog
    converter = opencc.OpenCC("s2t")
    missing = []
    for message in catalogs["zh_Hans"]:
        if not message.id:
            continue
        if not message.string:
            missing.append(message.id)
            continue
        hant = catalogs["zh_Hant"].get(message.id)
        if hant is not None and (not hant.string or AUTO_FLAG in hant.flags):
            hant.string = converter.convert(message.string)
            hant.flags.add(AUTO_FLAG)
            hant.flags.discard("fuzzy")
    if args.check:
        for text in missing:
            print(f"untranslated: {text!r}", file=sys.stderr)  # noqa: T201
        return 1 if missing else 0
    for locale, catalog in catalogs.items():
        save(locale, catalog)
    print(f"{len(template)} messages; {len(missing)} without a zh_Hans translation")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
