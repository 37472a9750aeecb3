"""The reply+token address: made for one conversation, read back only when genuine."""

from __future__ import annotations

import pytest

from channels.email.threading import (
    claimed_by_token,
    reply_address,
    reply_token,
    thread_references,
    token_conversation,
)

SECRET = "k" * 32
DOMAIN = "support.example.com"


def test_a_reply_address_names_its_conversation() -> None:
    address = reply_address(SECRET, "support", DOMAIN, 42)
    assert address.startswith("support+c42-") and address.endswith("@" + DOMAIN)
    assert token_conversation(SECRET, "support", DOMAIN, address) == 42
    assert token_conversation(SECRET, "support", DOMAIN, address.upper()) == 42


@pytest.mark.parametrize(
    "address",
    [
        f"support@{DOMAIN}",  # no token
        f"support+c42-{'0' * 12}@{DOMAIN}",  # a made-up MAC
        f"support+c43-{reply_token(SECRET, 42)[4:]}@{DOMAIN}",  # another conversation's MAC
        f"support+{reply_token(SECRET, 42)}@other.example",  # another domain
        f"sales+{reply_token(SECRET, 42)}@{DOMAIN}",  # another mailbox
        f"support+{reply_token('x' * 32, 42)}@{DOMAIN}",  # another deployment's secret
        f"support+c42@{DOMAIN}",
        "not an address",
    ],
)
def test_tokens_that_are_not_ours_name_nothing(address: str) -> None:
    assert token_conversation(SECRET, "support", DOMAIN, address) is None


def test_the_first_genuine_token_among_the_recipients_counts() -> None:
    recipients = [f"support@{DOMAIN}", reply_address(SECRET, "support", DOMAIN, 7)]
    assert claimed_by_token(SECRET, "support", DOMAIN, recipients) == 7
    assert claimed_by_token(SECRET, "support", DOMAIN, [f"support@{DOMAIN}"]) is None


def test_references_nearest_first_without_repeats() -> None:
    assert thread_references("<c>", ["<a>", "<b>", "<c>"]) == ["<c>", "<b>", "<a>"]
    assert thread_references(None, ["<a>", "<b>"]) == ["<b>", "<a>"]
    assert thread_references(None, []) == []
    assert len(thread_references("<x>", [f"<{n}>" for n in range(50)])) == 20
