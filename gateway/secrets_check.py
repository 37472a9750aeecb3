"""Secret keys that must never protect a real gateway: the ones printed in this repository.

Why: the secret key signs web chat visitor tokens and email reply addresses. Anyone who knows it
can forge a visitor token and read that visitor's whole conversation, so a key copied from the
demo configuration, the compose file or the docs is as good as none. Such keys are accepted only
by a configuration that says it is a demo (it has a ``demo`` section).
"""

from __future__ import annotations

import secrets

MIN_LENGTH = 32

# Keys published in this repository (config/demo.yaml, compose.yaml, the docs and README).
PUBLISHED_KEYS = frozenset(
    {
        "demo-secret-key-change-me-0123456789abcdef",
        "local-only-secret-key-change-me-0123456789",
    }
)

# Words that mark a value as an example someone was meant to replace.
PLACEHOLDER_WORDS = (
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "replaceme",
    "your-secret",
    "placeholder",
    "example",
    "xxxxxxxx",
)


def new_secret_key() -> str:
    """A fresh random key (256 bits, URL-safe, 43 characters)."""
    return secrets.token_urlsafe(32)


def weak_key_reason(key: str) -> str | None:
    """Why ``key`` must not protect a real gateway, or None when it may."""
    lowered = key.lower()
    if len(key) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if key in PUBLISHED_KEYS:
        return "is a published example key (from this project's files)"
    for word in PLACEHOLDER_WORDS:
        if word in lowered:
            return f"looks like a placeholder (contains {word!r})"
    if len(set(key)) < 10:
        return "has too few different characters to be random"
    return None
