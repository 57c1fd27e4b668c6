"""Name matching for the filing (备案) lookup: folding names and questions people type ("XX托育园备案了吗",
Traditional or Simplified, full- or half-width) to a key, and scoring how well a register name fits."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Words that say nothing about which nursery is meant: dropped from a question before matching.
_QUESTION_PATTERNS = (
    r"(请问|麻烦|帮我|帮忙|我想|想|查询|查一下|查查|查|问一下|看看)",
    r"(有没有|是不是|是否|已经|已)?(备案|備案)(了)?(吗|嗎|没有|沒有|没|沒|了没|了沒|情况|情況|状态|狀態)?",
    r"(合法|正规|正規)(吗|嗎)?",
    r"(吗|嗎|呢|呀|啊)$",
)

# Bigrams common to most nursery names; searching on them would return half the register.
GENERIC_BIGRAMS = frozenset(
    {
        "托育",
        "育园",
        "育中",
        "中心",
        "幼儿",
        "儿园",
        "婴幼",
        "照护",
        "护中",
        "护服",
        "服务",
        "务中",
        "有限",
        "限公",
        "公司",
        "早教",
        "教中",
        "示例",
        "家庭",
        "庭托",
        "育点",
        "育服",
        "育机",
        "机构",
        "托班",
        "园托",
        "托管",
        "管中",
    }
)


@lru_cache(maxsize=1)
def _t2s() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    converter = _t2s()
    result: str = converter.convert(text)  # type: ignore[attr-defined]
    return result


def name_key(text: str) -> str:
    """A name folded for matching: Simplified, half-width, lower case, no spaces or punctuation."""
    folded = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PSZC")


def strip_question(text: str) -> str:
    """The name part of a question such as "小树苗托育园备案了吗？" or "/check 小树苗"."""
    value = to_simplified(unicodedata.normalize("NFKC", text)).strip()
    value = re.sub(r"^/\w+(@\w+)?\s*", "", value)
    value = value.strip(" ?？!！。.,，")
    for pattern in _QUESTION_PATTERNS:
        value = re.sub(pattern, "", value)
    return value.strip(" ?？!！。.,，的")


def bigrams(key: str) -> set[str]:
    if len(key) < 2:
        return {key} if key else set()
    return {key[i : i + 2] for i in range(len(key) - 1)}


def distinctive_bigrams(key: str, limit: int = 6) -> list[str]:
    """Bigrams worth a LIKE search, rarest-looking first (non-generic, Chinese before Latin)."""
    grams = [
        g for g in dict.fromkeys(key[i : i + 2] for i in range(len(key) - 1)) if g not in GENERIC_BIGRAMS
    ]
    if not grams and key:
        grams = [key]
    return grams[:limit]


def match_score(query_key: str, candidate_key: str) -> float:
    """0-1: 1 for the same name; a name containing the whole query scores high, shorter names higher."""
    if not query_key or not candidate_key:
        return 0.0
    if query_key == candidate_key:
        return 1.0
    if query_key in candidate_key:
        return 0.7 + 0.29 * len(query_key) / len(candidate_key)
    q, c = bigrams(query_key), bigrams(candidate_key)
    if not q or not c:
        return 0.0
    shared = len(q & c)
    containment = shared / len(q)
    dice = 2 * shared / (len(q) + len(c))
    return 0.69 * (0.8 * containment + 0.2 * dice)
