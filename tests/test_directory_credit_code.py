"""Unit tests of unified social credit codes: the GB 32100-2015 check character (checked against the
known-valid 91350100M000100Y43 by hand), malformed codes, normalising and the generator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.directory import credit_code as cc

KNOWN_VALID = "91350100M000100Y43"


def _check_by_hand(first17: str) -> str:
    # The standard's worked form, written out independently of the module.
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(alphabet.index(ch) * w for ch, w in zip(first17, weights, strict=True))
    return alphabet[(31 - total % 31) % 31]


def test_weights_are_powers_of_three_mod_31() -> None:
    assert cc.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_known_valid_example() -> None:
    assert _check_by_hand(KNOWN_VALID[:17]) == "3"
    parsed = cc.parse(KNOWN_VALID)
    assert parsed.value == KNOWN_VALID
    assert parsed.kind == "企业"
    assert parsed.division == "350100"
    assert parsed.organization_code == "M000100Y4"
    assert cc.organization_check_character("M000100Y") == "4"


@pytest.mark.parametrize("last", [ch for ch in cc.ALPHABET if ch != "3"])
def test_every_other_check_character_is_refused(last: str) -> None:
    with pytest.raises(cc.CreditCodeError) as info:
        cc.parse(KNOWN_VALID[:17] + last)
    assert info.value.code == "credit_code_check_digit"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "credit_code_missing"),
        ("91350100M000100Y4", "credit_code_length"),
        ("91350100M000100Y433", "credit_code_length"),
        ("91350100M000100I43", "credit_code_character"),
        ("91350100M000100O43", "credit_code_character"),
        ("9135A100M000100Y43", "credit_code_division"),
    ],
)
def test_malformed_codes(raw: str, code: str) -> None:
    with pytest.raises(cc.CreditCodeError) as info:
        cc.parse(raw)
    assert info.value.code == code


def test_normalises_what_people_type() -> None:
    assert cc.parse(" 91350100m000100y43 ").value == KNOWN_VALID
    assert cc.parse("９１３５０１００Ｍ０００１００Ｙ４３").value == KNOWN_VALID
    assert cc.parse("913501-00M0001-00Y43").value == KNOWN_VALID
    assert cc.is_valid(KNOWN_VALID) and not cc.is_valid("91350100M000100Y44")


def test_a_single_changed_character_is_caught() -> None:
    # A weighted mod-31 check catches every single substitution.
    for i in range(17):
        for ch in cc.ALPHABET:
            if ch == KNOWN_VALID[i] or (2 <= i < 8 and not ch.isdigit()):
                continue
            assert not cc.is_valid(KNOWN_VALID[:i] + ch + KNOWN_VALID[i + 1 :])


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_codes_validate(seed: int) -> None:
    code = cc.generate("52", "350203", random.Random(seed))
    assert cc.parse(code).kind == "民办非企业单位"
    assert code[8:16] + cc.organization_check_character(code[8:16]) == code[8:17]
    assert _check_by_hand(code[:17]) == code[17]


def test_generate_refuses_bad_parts() -> None:
    with pytest.raises(ValueError, match="kind"):
        cc.generate("9I", "350203", random.Random(1))
    with pytest.raises(ValueError, match="division"):
        cc.generate("91", "35020", random.Random(1))
