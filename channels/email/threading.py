"""Which conversation an email continues: the reply+token address, then In-Reply-To and
References, checked against who sent it.

Every reply we send says ``Reply-To: support+c<id>-<mac>@domain``. The token names the
conversation and carries an HMAC, so nobody can make up an address that files their mail into
someone else's conversation; mail clients that drop In-Reply-To (or forward a thread) still
land in the right place. A claim (by token or by headers) only counts for the customer the
conversation belongs to: anyone else who writes into a thread starts a conversation of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

TOKEN_RE = re.compile(r"c(\d{1,18})-([0-9a-f]{12})")


def _mac(secret: str, conversation_id: int) -> str:
    digest = hmac.new(secret.encode(), f"email-thread:{conversation_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:12]


def reply_token(secret: str, conversation_id: int) -> str:
    return f"c{conversation_id}-{_mac(secret, conversation_id)}"


def reply_address(secret: str, mailbox: str, domain: str, conversation_id: int) -> str:
    return f"{mailbox}+{reply_token(secret, conversation_id)}@{domain}"


def token_conversation(secret: str, mailbox: str, domain: str, address: str) -> int | None:
    """The conversation a ``mailbox+token@domain`` recipient names, if the token is genuine."""
    local, _, at = address.lower().rpartition("@")
    if at != domain.lower() or not local.startswith(mailbox.lower() + "+"):
        return None
    match = TOKEN_RE.fullmatch(local[len(mailbox) + 1 :])
    if match is None:
        return None
    conversation_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _mac(secret, conversation_id)):
        return None
    return conversation_id


def claimed_by_token(
    secret: str, mailbox: str, domain: str, recipients: Iterable[str]
) -> int | None:
    for address in recipients:
        found = token_conversation(secret, mailbox, domain, address)
        if found is not None:
            return found
    return None


def thread_references(in_reply_to: str | None, references: Iterable[str]) -> list[str]:
    """Message-IDs the mail answers, nearest first (In-Reply-To, then References backwards)."""
    ids = [in_reply_to] if in_reply_to else []
    ids += [r for r in reversed(list(references)) if r and r != in_reply_to]
    return ids[:20]
