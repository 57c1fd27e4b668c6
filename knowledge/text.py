"""Text normalisation for the knowledge base: one canonical form for questions and entries.
Folds Traditional to Simplified, full width to half width, case and punctuation; renders Traditional."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Protocol


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


# The knowledge base is written in Simplified Chinese; answers go back to Traditional writers through
# 's2tw': Taiwan-standard glyphs (為, 裡, 著), which is what the Traditional seed document (Xi'an) and
# most Traditional readers use, but without 's2twp''s phrase rewriting, which would turn mainland
# policy vocabulary into Taiwan usage (信息→資訊, 视频监控→影片監控) and misquote document names.
# Plain 's2t' was rejected because it emits OpenCC's own historical forms (爲, 裏) that few people write.
TRADITIONAL_CONFIG = "s2tw"

_WHITESPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Terminal escape sequences pasted from a console: CSI (ESC [ or the 8-bit CSI, parameters, a final
# letter such as the 'm' of "ESC[31m"), OSC (ESC ] ... BEL or ESC \) and the two-character ESC forms.
# Without the ESC their leftovers ("[31m") read as words and digits and can match an entry.
_TERMINAL_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
)
# What is left of a CSI sequence when something upstream (bot.textutil.clean) has already dropped the
# ESC alone: "[31m", "[1;32m", "[0K". A bracketed label ("[A]", "[3]") has its closing bracket and stays.
_ORPHAN_CSI = re.compile(r"\[\d{1,3}(?:;\d{1,3})*[A-HJKSTfhlmnsu](?!\])|\[[mK](?![\w\]])")
# Control characters other than whitespace (tab, line breaks), which separate words and stay.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


@cache
def _opencc(config: str) -> _Converter:
    # Importing and building an OpenCC converter costs ~50 ms each, so it is done on first use and
    # shared; the converter is immutable once built, so concurrent convert() calls are safe.
    import opencc

    converter: _Converter = opencc.OpenCC(config)
    return converter


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters and phrases to Simplified (OpenCC 't2s')."""
    return _opencc("t2s").convert(text) if text else text


def to_traditional(text: str) -> str:
    """Render Simplified Chinese text in Traditional characters for users who write Traditional."""
    return _opencc(TRADITIONAL_CONFIG).convert(text) if text else text


def detect_traditional(text: str) -> bool:
    """Tell whether the text is written in Traditional characters.

    A character changed by t2s is Traditional evidence, one changed by s2t is Simplified evidence;
    most characters are shared by both scripts and count for neither. Comparing the two counts keeps
    single variant characters (周/週, 着/著) from deciding a mostly Simplified message.
    """
    han = "".join(_HAN.findall(text))
    if not han:
        return False
    traditional_evidence = _differing(han, to_simplified(han))
    simplified_evidence = _differing(han, _opencc("s2t").convert(han))
    return traditional_evidence > simplified_evidence


def _differing(original: str, converted: str) -> int:
    if len(original) != len(converted):
        # Phrase conversions can change length; fall back to a rough count of what changed.
        return abs(len(original) - len(converted)) + sum(1 for c in converted if c not in original)
    return sum(1 for a, b in zip(original, converted, strict=True) if a != b)


def _fold_char(char: str) -> str:
    category = unicodedata.category(char)
    # Punctuation, symbols (emoji included), control and format characters separate words; letters,
    # digits and marks are kept.
    if category[0] in "PSZ" or category in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return " "
    return char


def strip_controls(text: str) -> str:
    """Drop terminal escape sequences (and their leftovers) and non-whitespace control characters."""
    return _ORPHAN_CSI.sub("", _CONTROL.sub("", _TERMINAL_ESCAPE.sub("", text)))


def normalize(text: str) -> str:
    """Return the canonical search form of a text.

    Terminal escape sequences and control characters are dropped first, whole; then NFKC folds full-width letters, digits and punctuation to ASCII; OpenCC 't2s' folds Traditional
    to Simplified; then lower case, punctuation and symbols become spaces and runs of spaces collapse.
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", strip_controls(text))
    folded = to_simplified(folded).lower()
    folded = "".join(_fold_char(c) for c in folded)
    return _WHITESPACE.sub(" ", folded).strip()
