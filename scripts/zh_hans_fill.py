"""Write zh_Hans translations given as a YAML mapping (msgid: msgstr) into the catalog.

Run: python scripts/zh_hans_fill.py FILE.yaml, then python scripts/messages.py to refresh zh_Hant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "bot/locales/zh_Hans/LC_MESSAGES/carebot.po"


def main() -> int:
    mapping = yaml.safe_load(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with PO.open("rb") as f:
        catalog = read_po(f, locale="zh")
    unknown = [k for k in mapping if k not in catalog]
    for msgid, msgstr in mapping.items():
        if msgid in catalog:
            catalog[msgid].string = msgstr
    with PO.open("wb") as f:
        write_po(f, catalog, width=0, sort_output=True, ignore_obsolete=True)
    for msgid in unknown:
        print(f"not in the catalog: {msgid!r}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
