"""Appeal reference numbers: nine digits the customer can quote, with a check digit.

Why a check digit: a reference is read out on the phone, typed on a keypad and copied into
email subjects, so a mistyped digit or two swapped neighbours must not silently point at
someone else's appeal. The Damm algorithm's last digit catches every single wrong digit and
every swap of two adjacent digits, with digits only (no letters to spell out). A reference is
8 random digits (the first is never 0, so it keeps its length everywhere) and the check digit,
shown as ``123-456-789`` and spoken in groups of three.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence

LENGTH = 9

# The Damm algorithm's quasigroup of order 10 (weakly totally anti-symmetric).
_DAMM: tuple[tuple[int, ...], ...] = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

_DIGITS = "0123456789"
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"  # hyphen, hyphens, dashes, minus sign
_DASH = re.escape(_DASHES)  # for a character class: '-' must not make a range
_SEPARATORS = re.compile(rf"[\s.{_DASH}]+")
# What may stand before a reference typed on its own: '#', '№', 'No', 'No.', 'Nr.', 'N°'.
_PREFIX = re.compile(r"^(?:#|№|n[o°º]\.?|nr\.?)\s*", re.IGNORECASE)
_ASCII_DIGITS = re.compile(r"[0-9]+")

# In free text: nine digits in one run, or three groups of three joined by one kind of
# separator; never part of a longer number (a phone number, an amount, a date, a code with
# letters), so no digit, ASCII letter, '+' or grouped digit may touch it on either side.
_JOIN = rf"[ .\u00a0\u202f\u2009{_DASH}]"
_TOUCH = rf"[ \t.,/\u00a0\u202f\u2009{_DASH}]"
_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z_+])"
    rf"(?<![0-9]{_TOUCH})"
    rf"([1-9][0-9]{{2}})(?:({_JOIN})([0-9]{{3}})\2([0-9]{{3}})|([0-9]{{6}}))"
    r"(?![0-9A-Za-z_])"
    rf"(?!{_TOUCH}[0-9])"
)


def check_digit(body: str) -> str:
    """The Damm check digit of a string of ASCII digits."""
    if not body or _ASCII_DIGITS.fullmatch(body) is None:
        raise ValueError(f"{body!r} is not a string of digits")
    interim = 0
    for digit in body:
        interim = _DAMM[interim][int(digit)]
    return str(interim)


def is_valid(digits: str) -> bool:
    """Whether nine ASCII digits (first not 0) end in their body's check digit."""
    return (
        len(digits) == LENGTH
        and _ASCII_DIGITS.fullmatch(digits) is not None
        and digits[0] != "0"
        and check_digit(digits) == "0"  # Damm: a valid number's interim digit ends at 0
    )


def make_reference(body8: str) -> str:
    """The reference for an 8-digit body (first digit 1-9): the body and its check digit."""
    if len(body8) != LENGTH - 1 or _ASCII_DIGITS.fullmatch(body8) is None or body8[0] == "0":
        raise ValueError(f"{body8!r} is not 8 digits starting with 1-9")
    return body8 + check_digit(body8)


def new_reference(choice: Callable[[Sequence[str]], str] = secrets.choice) -> str:
    """A fresh random reference; ``choice`` picks one character (tests pass a seeded one).

    About 90 million bodies: the store keeps references unique and draws again on a clash.
    """
    body = choice(_DIGITS[1:]) + "".join(choice(_DIGITS) for _ in range(LENGTH - 2))
    return make_reference(body)


def parse_reference(text: str) -> str | None:
    """The reference (nine digits) the customer typed or said, or None unless it is one.

    Accepts spaces, dashes and dots anywhere between the digits and a leading '#', '№',
    'No', 'Nr.' or 'N°'; None for any other character, another count of digits or a wrong
    check digit.
    """
    stripped = _PREFIX.sub("", text.strip(), count=1)
    digits = _SEPARATORS.sub("", stripped)
    return digits if is_valid(digits) else None


def find_reference(text: str) -> str | None:
    """The first valid reference in free text (an email subject, a chat message), or None.

    It is written ``123456789``, ``123-456-789``, ``123 456 789`` or ``123.456.789`` and may
    follow any word ("Re: Ваше обращение № 123-456-789", "[#123456789]"); nine digits inside a
    longer number and nine digits with a wrong check digit are passed over.
    """
    for match in _IN_TEXT.finditer(text):
        head, _sep, middle, tail, rest = match.groups()
        digits = head + (rest if rest is not None else middle + tail)
        if is_valid(digits):
            return digits
    return None


def format_reference(ref: str) -> str:
    """``123-456-789``: how a reference is shown (any accepted spelling goes in)."""
    digits = _require(ref)
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def spoken(ref: str) -> str:
    """``1 2 3, 4 5 6, 7 8 9``: digit by digit in groups of three, for speech synthesis."""
    digits = _require(ref)
    return ", ".join(" ".join(digits[i : i + 3]) for i in range(0, LENGTH, 3))


def _require(ref: str) -> str:
    digits = parse_reference(ref)
    if digits is None:
        raise ValueError(f"{ref!r} is not an appeal reference")
    return digits
