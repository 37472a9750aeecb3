"""Which Twilio media URLs the gateway fetches with the account's credentials."""

from __future__ import annotations

import pytest

from channels.twilio.media import media_path
from gateway.jobs import JobError

SID = "AC" + "1" * 32
PATH = f"/2010-04-01/Accounts/{SID}/Messages/MM{'a' * 32}/Media/ME{'b' * 32}"


@pytest.mark.parametrize(
    ("url", "base"),
    [
        (f"https://api.twilio.com{PATH}", "https://api.twilio.com"),
        (f"https://api.twilio.com{PATH}", "http://127.0.0.1:9000"),  # a test server as base
        (f"http://127.0.0.1:9000{PATH}", "http://127.0.0.1:9000"),
    ],
)
def test_twilio_media_of_this_account_is_fetched(url: str, base: str) -> None:
    assert media_path(url, SID, base) == PATH


def test_recordings_of_this_account_are_fetched() -> None:
    path = f"/2010-04-01/Accounts/{SID}/Recordings/RE{'c' * 32}"
    assert media_path(f"https://api.twilio.com{path}", SID, "https://api.twilio.com") == path


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example{PATH}",  # credentials never leave for another host
        f"https://api.twilio.com/2010-04-01/Accounts/AC{'2' * 32}/Messages/MM1/Media/ME1",
        f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json",
        "https://media.example.net/a.png",
        "",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(JobError, match="not a Twilio media URL"):
        media_path(url, SID, "https://api.twilio.com")
