"""Appeal reference numbers: the Damm check digit catches the slips people make, and a
reference is found in what customers type and in email subjects, and nowhere else."""

# ruff: noqa: RUF001 (subjects and numbers as customers write them, full-width digits included)

from __future__ import annotations

import random

import pytest

from appeals.numbers import (
    check_digit,
    find_reference,
    format_reference,
    is_valid,
    make_reference,
    new_reference,
    parse_reference,
    spoken,
)

SAMPLE = [new_reference(random.Random(seed).choice) for seed in range(300)]
REF = make_reference("12345678")  # "123456786"


def _with_bad_check_digit(ref: str) -> str:
    return ref[:-1] + str((int(ref[-1]) + 1) % 10)


def test_known_check_digits() -> None:
    # The worked example of the Damm algorithm, and the reference the other tests quote.
    assert check_digit("572") == "4"
    assert REF == "123456786"
    assert is_valid("5724") is False  # nine digits or nothing
    assert is_valid("572400000") is True  # zeros keep the interim digit at 0
    with pytest.raises(ValueError, match="not a string of digits"):
        check_digit("12a")
    with pytest.raises(ValueError, match="not a string of digits"):
        check_digit("")


def test_new_references_are_nine_valid_digits_from_the_given_randomness() -> None:
    assert len(set(SAMPLE)) == len(SAMPLE)
    for ref in SAMPLE:
        assert len(ref) == 9 and ref.isascii() and ref.isdigit()
        assert ref[0] != "0"
        assert is_valid(ref)
        assert ref == make_reference(ref[:8])
    assert new_reference(random.Random(5).choice) == new_reference(random.Random(5).choice)
    # The first digit is drawn from 1-9 only, even when the randomness always picks the first.
    assert new_reference(lambda digits: digits[0]) == make_reference("10000000")
    assert is_valid(new_reference())


def test_every_single_wrong_digit_is_caught() -> None:
    for ref in SAMPLE:
        for position in range(9):
            for digit in "0123456789":
                if digit != ref[position]:
                    typo = ref[:position] + digit + ref[position + 1 :]
                    assert not is_valid(typo), (ref, typo)
                    assert parse_reference(typo) is None


def test_every_swap_of_neighbours_is_caught() -> None:
    swaps = 0
    for ref in SAMPLE:
        for position in range(8):
            a, b = ref[position], ref[position + 1]
            if a != b:
                swapped = ref[:position] + b + a + ref[position + 2 :]
                assert not is_valid(swapped), (ref, swapped)
                swaps += 1
    assert swaps > 1500


@pytest.mark.parametrize(
    "body", ["1234567", "123456789", "02345678", "1234567a", "１２３４５６７８"]
)
def test_make_reference_takes_eight_digits_not_starting_with_zero(body: str) -> None:
    with pytest.raises(ValueError, match="not 8 digits"):
        make_reference(body)


@pytest.mark.parametrize(
    "typed",
    [
        "123456786",
        " 123-456-786 ",
        "123 456 786",
        "123.456.786",
        "12 34-56.786",
        "#123456786",
        "# 123-456-786",
        "№123456786",
        "№ 123 456 786",
        "No 123456786",
        "no. 123-456-786",
        "Nr. 123.456.786",
        "N° 123456786",
        "123\u2013456\u2013786",
    ],
)
def test_parse_accepts_what_people_type(typed: str) -> None:
    assert parse_reference(typed) == REF


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "123456785",  # wrong check digit
        "12345678",  # too short
        "1234567860",  # too long
        "023456789",
        "123456786x",
        "ref 123456786",
        "123/456/786",
        "１２３４５６７８４",  # full-width digits
        "##123456786",
    ],
)
def test_parse_refuses_anything_else(typed: str) -> None:
    assert parse_reference(typed) is None


def test_format_and_speak() -> None:
    assert format_reference(REF) == "123-456-786"
    assert format_reference("#123 456 786") == "123-456-786"
    assert spoken(REF) == "1 2 3, 4 5 6, 7 8 6"
    for ref in SAMPLE[:20]:
        assert parse_reference(format_reference(ref)) == ref
        assert parse_reference(spoken(ref).replace(",", "")) == ref
    for bad in ("123456785", "hello"):
        with pytest.raises(ValueError, match="not an appeal reference"):
            format_reference(bad)
        with pytest.raises(ValueError, match="not an appeal reference"):
            spoken(bad)


BAD = _with_bad_check_digit(REF)


@pytest.mark.parametrize(
    "text",
    [
        "Re: Ваше обращение № 123-456-786",
        "Re: Appeal 123-456-786 registered",
        "[#123456786] Your request",
        "AW: Ihr Anliegen Nr. 123.456.786 wurde erfasst",
        "RE: Su reclamación n.º 123 456 786",
        "Fwd: Réclamation N°123456786 enregistrée",
        "回复：您的申诉编号123456786已登记",
        "Başvurunuz (123-456-786) alındı",
        "my appeal is 123456786.",
        "123456786",
        "status 123\u2011456\u2011786?",
        f"old {BAD} new 123-456-786",  # a wrong check digit is passed over
        "call +1 212-555-0123 about 123-456-786",
    ],
)
def test_find_in_free_text(text: str) -> None:
    assert find_reference(text) == REF


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no reference here",
        f"Re: appeal {BAD}",
        "phone 1234567860",  # ten digits
        "12345678 only eight",
        "+123456786",  # a phone number
        "+49 151 123456786",
        "+7 123 456 786 12",
        "call 0123-456-786",
        "IBAN DE12 123456786",
        "paid 1,123456786 EUR",
        "amount 123456786.50",
        "on 2024-05-01 123-456-786-1",
        "ID A123456786",
        "order 123456786X",
        "123-456 786",  # mixed separators
        "12-345-6786",
        "code 9123456786",
    ],
)
def test_not_found_in_longer_numbers_or_with_a_bad_check_digit(text: str) -> None:
    assert find_reference(text) is None


def test_find_returns_the_first_valid_one() -> None:
    first, second = SAMPLE[0], SAMPLE[1]
    text = f"Appeals {format_reference(first)} and {second}"
    assert find_reference(text) == first
    assert find_reference(f"{BAD}, then {second}") == second
