"""Unified social credit codes (统一社会信用代码, GB 32100-2015): normalising, validating, generating.
The 18th character is a check character over the first 17; positions 9-17 carry the GB 11714 code."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

# GB 32100-2015 leaves out I, O, S, V and Z so codes survive being read aloud and hand-copied.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# Weight of position i (1-based) is 3**(i-1) mod 31.
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# First character: the registration authority; second: the kind of body it registered. Only the pairs
# a nursery can plausibly have are named; others still validate.
REGISTRATION_KINDS: dict[str, str] = {
    "11": "机关",
    "12": "事业单位",
    "13": "中央编办直接管理机构编制的群众团体",
    "19": "其他（机构编制）",
    "51": "社会团体",
    "52": "民办非企业单位",
    "53": "基金会",
    "59": "其他（民政）",
    "91": "企业",
    "92": "个体工商户",
    "93": "农民专业合作社",
}


class CreditCodeError(ValueError):
    """A unified social credit code that is not well formed; `code` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A validated unified social credit code, split into its parts."""

    value: str

    @property
    def registration_authority(self) -> str:
        return self.value[0]

    @property
    def kind(self) -> str | None:
        """The kind of body (企业, 民办非企业单位, 事业单位, …) when the first two characters say it."""
        return REGISTRATION_KINDS.get(self.value[:2])

    @property
    def division(self) -> str:
        """The 6-digit administrative division code (行政区划代码) of the registering authority."""
        return self.value[2:8]

    @property
    def organization_code(self) -> str:
        return self.value[8:17]

    def __str__(self) -> str:
        return self.value


def normalize(raw: str) -> str:
    """Fold full-width characters and case, drop spaces and hyphens people type between groups."""
    folded = unicodedata.normalize("NFKC", raw).upper()
    return "".join(ch for ch in folded if not ch.isspace() and ch != "-")


def check_character(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a code."""
    if len(first17) != LENGTH - 1:
        raise ValueError(f"need 17 characters, got {len(first17)}")
    try:
        total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the code alphabet") from None
    return ALPHABET[(31 - total % 31) % 31]


def organization_check_character(first8: str) -> str:
    """The GB 11714 check character of a 9-character organization code (digits 0-9 or X)."""
    if len(first8) != 8:
        raise ValueError(f"need 8 characters, got {len(first8)}")
    total = 0
    for ch, w in zip(first8, _ORG_WEIGHTS, strict=True):
        if ch.isdigit():
            v = int(ch)
        elif "A" <= ch <= "Z":
            v = ord(ch) - ord("A") + 10
        else:
            raise ValueError(f"character {ch!r} is not allowed in an organization code")
        total += v * w
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def parse(raw: str) -> CreditCode:
    """Validate a code (after `normalize`), raising CreditCodeError with the first problem found.

    The embedded GB 11714 organization code is not checked: codes issued since 2015 are not all
    guaranteed to carry a valid one, and rejecting a lawful nursery is worse than missing a typo the
    outer check character already catches.
    """
    value = normalize(raw)
    if not value:
        raise CreditCodeError("credit_code_missing", "the credit code is empty")
    if len(value) != LENGTH:
        raise CreditCodeError(
            "credit_code_length", f"the credit code has {len(value)} characters, not {LENGTH}"
        )
    for i, ch in enumerate(value, start=1):
        if ch not in _VALUE:
            raise CreditCodeError(
                "credit_code_character",
                f"character {ch!r} at position {i} is not allowed in a credit code (no I, O, S, V, Z)",
            )
    if not value[2:8].isdigit():
        raise CreditCodeError(
            "credit_code_division", "positions 3-8 of the credit code must be an administrative division code"
        )
    expected = check_character(value[:17])
    if value[17] != expected:
        raise CreditCodeError(
            "credit_code_check_digit",
            f"the credit code's check character is {value[17]!r}, but should be {expected!r}",
        )
    return CreditCode(value)


def is_valid(raw: str) -> bool:
    try:
        parse(raw)
    except CreditCodeError:
        return False
    return True


def generate(kind: str, division: str, rng: random.Random) -> str:
    """A code with valid check characters (outer and GB 11714) for synthetic data.

    `kind` is the two-character prefix (for example "91" for an enterprise), `division` the 6-digit
    administrative division code.
    """
    if len(kind) != 2 or any(ch not in _VALUE for ch in kind):
        raise ValueError(f"bad registration kind {kind!r}")
    if len(division) != 6 or not division.isdigit():
        raise ValueError(f"bad division code {division!r}")
    body = "".join(rng.choice(ALPHABET) for _ in range(8))
    org = body + organization_check_character(body)
    first17 = kind + division + org
    return first17 + check_character(first17)
