"""Ids from clients, checked before they reach the database: a positive integer below 2**63.

Pure (no aiohttp), so the channels' frame parsers can use it as well as the HTTP helpers; a
number past 64 bits would otherwise overflow the database driver (a 500, a dead socket).
"""

from __future__ import annotations

MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(value: object, *, text: bool = False, minimum: int = 1) -> int | None:
    """An id (``minimum``..2**63-1), or None when ``value`` is not one.

    JSON values must be integers (not bools, floats or strings); with ``text`` (a path or query
    parameter) the value must be plain ASCII digits: no sign, no spaces, no '²'."""
    number: int
    if text:
        if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
            return None
        if len(value.lstrip("0")) > _MAX_ID_DIGITS:
            return None
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        return None
    return number if minimum <= number <= MAX_ID else None


def id_reason(name: str, minimum: int = 1) -> str:
    low = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
    return f"'{name}' must be {low} below 2**63"
