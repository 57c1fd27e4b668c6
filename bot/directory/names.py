"""Name matching for the filing (备案) lookup: folding names and questions people type ("XX托育园备案了吗",
Traditional or Simplified, full- or half-width) to a key, and scoring how well a register name fits."""

from __future__ import annotations

import re
import unicodedata

from knowledge.text import to_simplified

# What people put around a nursery's name when asking about its filing. Only the start and the end of
# the question are trimmed, so a name that happens to contain one of these words keeps it.
_LEADING = (
    r"^(请问|麻烦|帮我查一下|帮我查|帮忙查|帮我|帮忙|我想问|我想查|我想|查询|查一下|查查|问一下|看看|一下)+"
)
_TRAILING = (
    r"(有没有|是不是|是否|已经|已)?备案(了)?(吗|没有|没|了没|情况|状态)?$",
    r"(是不是|是否)?(合法|正规)(的)?(吗)?$",
    r"(吗|呢|呀|啊)$",
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


def name_key(text: str) -> str:
    """A name folded for matching: Simplified, half-width, lower case, no spaces or punctuation."""
    folded = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PSZC")


def strip_question(text: str) -> str:
    """The name part of a question such as "小树苗托育园备案了吗？" or "/check 小树苗"."""
    value = to_simplified(unicodedata.normalize("NFKC", text)).strip()
    value = re.sub(r"^/\w+(@\w+)?\s*", "", value)
    value = value.strip(" ?？!！。.,，")
    value = re.sub(_LEADING, "", value)
    for pattern in _TRAILING:
        value = re.sub(pattern, "", value).rstrip(" ?？!！。.,，")
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


# Kinds of nursery that names end with; a query naming the wrong kind ("托育园" for a "照护中心") should
# still find the nursery by the rest of its name. Longest first, so the longer phrase is removed whole.
GENERIC_WORDS = tuple(
    sorted(
        {
            "婴幼儿照护服务中心",
            "婴幼儿照护中心",
            "托育综合服务中心",
            "托育服务中心",
            "托育服务有限公司",
            "家庭托育点",
            "有限责任公司",
            "有限公司",
            "托育中心",
            "托育园",
            "托育所",
            "托育室",
            "托育点",
            "幼儿园",
            "照护中心",
            "早教中心",
            "职工",
            "公办",
            "托班",
            "托育",
            "示例",
        },
        key=len,
        reverse=True,
    )
)


def core_key(key: str) -> str:
    """A folded name without the generic words: what tells one nursery from another."""
    for word in GENERIC_WORDS:
        key = key.replace(word, "")
    return key


def match_score(query_key: str, candidate_key: str) -> float:
    """0-1: 1 for the same name; a name containing the whole query scores high, shorter names higher;
    then names containing the query's distinctive part; then shared two-character pieces of those parts.
    """
    if not query_key or not candidate_key:
        return 0.0
    if query_key == candidate_key:
        return 1.0
    if query_key in candidate_key:
        return 0.7 + 0.29 * len(query_key) / len(candidate_key)
    q_core, c_core = core_key(query_key), core_key(candidate_key)
    if not q_core or not c_core:
        return 0.0
    if q_core in c_core:
        return 0.5 + 0.19 * len(q_core) / len(c_core)
    q, c = bigrams(q_core), bigrams(c_core)
    shared = len(q & c)
    containment = shared / len(q)
    dice = 2 * shared / (len(q) + len(c))
    return 0.49 * (0.8 * containment + 0.2 * dice)
