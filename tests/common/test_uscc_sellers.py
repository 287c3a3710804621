"""Unified social credit codes (GB 32100-2015) against the verified vectors of domain.md."""
from __future__ import annotations

import random

import pytest

from fakes.common import uscc
from fakes.common.sellers import generate_sellers, read_sellers, write_sellers

VECTORS = ["91350100M000100Y43", "9144030071526726XG", "91110000600001760P",
           "91330100716105852F", "911101017967003199"]


@pytest.mark.parametrize("code", VECTORS)
def test_verified_vectors_are_valid(code):
    assert uscc.is_valid(code)


@pytest.mark.parametrize("code", VECTORS)
def test_a_changed_check_character_is_caught(code):
    wrong = code[:17] + next(c for c in uscc.CHARSET if c != code[17])
    assert "check character" in uscc.invalid_reason(wrong)


def test_forbidden_letters_and_lengths():
    assert "not allowed" in uscc.invalid_reason("91350100M000100I43")
    assert "18 characters" in uscc.invalid_reason("9135")
    assert uscc.invalid_reason(12345) == "must be a string of 18 characters"


def test_generated_codes_are_valid_and_beijing():
    rng = random.Random(1)
    for _ in range(500):
        code = uscc.generate(rng)
        assert uscc.is_valid(code) and code[2:6] == "1101" and code[:2] == "91"


def test_sellers_are_reproducible_and_round_trip(tmp_path):
    a, b = generate_sellers(8, 42), generate_sellers(8, 42)
    assert a == b and a != generate_sellers(8, 43)
    assert len({s["seller_tax_id"] for s in a}) == 8
    write_sellers(tmp_path / "s.json", a)
    assert read_sellers(tmp_path / "s.json") == a


def test_a_bad_sellers_file_names_the_entry(tmp_path):
    (tmp_path / "s.json").write_text('[{"seller_tax_id": "911101017967003198", "name": "x", "secret": "y"}]')
    with pytest.raises(ValueError, match="entry 0: seller_tax_id '911101017967003198' check character"):
        read_sellers(tmp_path / "s.json")
