"""Web chat tokens, frame parsing and the rate limiter: pure functions, plain inputs."""

from __future__ import annotations

import pytest

from channels.webchat.protocol import (
    AskWait,
    FrameError,
    Ping,
    Resume,
    SendMessage,
    parse_frame,
)
from channels.webchat.tokens import TokenError, issue_token, new_visitor_id, verify_token
from gateway.ratelimit import TokenBucket

SECRET = b"0123456789abcdef0123456789abcdef"


def test_token_round_trip_and_forgeries() -> None:
    visitor = new_visitor_id()
    token = issue_token(SECRET, visitor)
    assert verify_token(SECRET, token) == visitor
    other = new_visitor_id()
    forged = f"{other}.{token.split('.', 1)[1]}"
    for bad in (
        None,
        "",
        "nodot",
        forged,
        token + "x",
        "v_short.sig",
        issue_token(b"x" * 32, visitor),
    ):
        with pytest.raises(TokenError):
            verify_token(SECRET, bad)


@pytest.mark.parametrize(
    ("raw", "frame"),
    [
        ('{"type":"message","client_id":"abcdefgh","text":"hi"}', SendMessage("abcdefgh", "hi")),
        ('{"type":"resume","after":12}', Resume(12)),
        ('{"type":"resume"}', Resume(0)),
        ('{"type":"ping"}', Ping()),
        ('{"type":"wait"}', AskWait()),
    ],
)
def test_parse_good_frames(raw: str, frame: object) -> None:
    assert parse_frame(raw, 100) == frame


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("nope", "bad_json"),
        ('"a string"', "bad_frame"),
        ('{"type":"message","client_id":"abc","text":"hi"}', "bad_frame"),
        ('{"type":"message","client_id":"abcdefgh<>","text":"hi"}', "bad_frame"),
        ('{"type":"message","client_id":"abcdefgh","text":"   "}', "bad_frame"),
        ('{"type":"message","client_id":"abcdefgh","text":"' + "x" * 101 + '"}', "too_long"),
        ('{"type":"resume","after":true}', "bad_frame"),
        ('{"type":"resume","after":"3"}', "bad_frame"),
        ('{"type":"hack"}', "unknown_type"),
        ("{}", "unknown_type"),
    ],
)
def test_parse_bad_frames(raw: str, code: str) -> None:
    with pytest.raises(FrameError) as err:
        parse_frame(raw, 100)
    assert err.value.code == code and err.value.reason


def test_token_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.allow(0.5)  # one token back after half a second at 2/s
    assert not bucket.allow(0.5)
    assert bucket.allow(10.0) and bucket.allow(10.0) and bucket.allow(10.0)
    assert not bucket.allow(10.0)
