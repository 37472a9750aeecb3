"""Exact TwiML for every action the engine asks for."""

from __future__ import annotations

import pytest

from ivr import twiml
from ivr.actions import (
    Ask,
    AskKind,
    Choice,
    Enqueue,
    Hangup,
    Lookup,
    Play,
    Record,
    Say,
    Transfer,
)

URLS = twiml.VoiceUrls("/a", "/s", "/r", "/r0", "/t")
LOCALES = {"en": "en-US", "es": "es-US"}
HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response>'
SAY = Say("Hello.", "en", "Polly.Joanna")
MENU = Ask(AskKind.MENU, "main", "en", 6, (Choice("1", "Sales", "1"),))


@pytest.mark.parametrize(
    ("actions", "xml"),
    [
        ([SAY, Hangup()], '<Say language="en-US" voice="Polly.Joanna">Hello.</Say><Hangup />'),
        (
            [Say("Hola.", "es"), Play("https://x.test/a.mp3", "Hi", "es")],
            '<Say language="es-US">Hola.</Say><Play>https://x.test/a.mp3</Play>',
        ),
        (
            [SAY, MENU],
            '<Gather action="/a" actionOnEmptyResult="false" input="dtmf" method="POST" '
            'numDigits="1" timeout="6"><Say language="en-US" voice="Polly.Joanna">Hello.</Say>'
            '</Gather><Redirect method="POST">/s</Redirect>',
        ),
        (
            [Ask(AskKind.MENU, "main", "es", 5, hints=("ventas", "factura"))],
            '<Gather action="/a" actionOnEmptyResult="false" hints="ventas, factura" '
            'input="dtmf speech" language="es-US" method="POST" numDigits="1" '
            'speechTimeout="auto" timeout="5" /><Redirect method="POST">/s</Redirect>',
        ),
        (
            [Ask(AskKind.DIGITS, "n", "en", 10, min_digits=6, max_digits=8, finish_on_key="#")],
            '<Gather action="/a" actionOnEmptyResult="false" finishOnKey="#" input="dtmf" '
            'method="POST" numDigits="8" timeout="10" /><Redirect method="POST">/s</Redirect>',
        ),
        (
            [Ask(AskKind.DIGITS, "pin", "en", 5, min_digits=4, max_digits=4)],
            '<Gather action="/a" actionOnEmptyResult="false" input="dtmf" method="POST" '
            'numDigits="4" timeout="5" /><Redirect method="POST">/s</Redirect>',
        ),
        (
            [SAY, Record("vm", 120, 5, "#", True)],
            '<Say language="en-US" voice="Polly.Joanna">Hello.</Say><Record action="/r" '
            'finishOnKey="#" maxLength="120" method="POST" playBeep="true" timeout="5" '
            'transcribe="true" transcribeCallback="/t" /><Redirect method="POST">/r0</Redirect>',
        ),
        (
            [Record("vm", 60, 3, "", False)],
            '<Record action="/r" finishOnKey="#" maxLength="60" method="POST" playBeep="true" '
            'timeout="3" transcribe="false" /><Redirect method="POST">/r0</Redirect>',
        ),
        ([Transfer("+15551234567")], "<Dial><Number>+15551234567</Number></Dial><Hangup />"),
        (
            [Transfer("sip:desk@pbx.example.com")],
            "<Dial><Sip>sip:desk@pbx.example.com</Sip></Dial><Hangup />",
        ),
        (
            [SAY, Enqueue({"topic": "sales"})],
            '<Say language="en-US" voice="Polly.Joanna">Hello.</Say>',
        ),
    ],
)
def test_each_action_renders_exactly(actions: list[object], xml: str) -> None:
    assert twiml.render(actions, URLS, LOCALES) == HEAD + xml + "</Response>"  # type: ignore[arg-type]


def test_a_lookup_is_never_rendered() -> None:
    with pytest.raises(ValueError, match="lookup"):
        twiml.render([Lookup("l", "https://x.test", "GET", 3)], URLS, LOCALES)


def test_the_hold_loop_the_apology_and_the_connection() -> None:
    assert twiml.hold(
        [Say("You are number 2 in line.", "en")], "https://m.test/hold.mp3", "1",
        Say("To be called back instead, press 1.", "en"), "/ha", "/h", LOCALES,
    ) == HEAD + (
        '<Gather action="/ha" actionOnEmptyResult="false" input="dtmf" method="POST" '
        'numDigits="1" timeout="1"><Say language="en-US">You are number 2 in line.</Say>'
        '<Say language="en-US">To be called back instead, press 1.</Say>'
        "<Play>https://m.test/hold.mp3</Play></Gather>"
        '<Redirect method="POST">/h</Redirect></Response>'
    )  # fmt: skip
    assert twiml.apology("Sorry.", "en", "/fb?caller=%2B1", LOCALES) == HEAD + (
        '<Say language="en-US">Sorry.</Say><Record action="/fb?caller=%2B1" maxLength="120" '
        'method="POST" playBeep="true" recordingStatusCallback="/fb?caller=%2B1" '
        'recordingStatusCallbackMethod="POST" timeout="5" /><Hangup /></Response>'
    )
    assert twiml.connect("client:grace", None, "/after") == HEAD + (
        '<Dial action="/after" method="POST"><Client>grace</Client></Dial></Response>'
    )
    assert twiml.connect("+15550002001", "+15550001111", "/after") == HEAD + (
        '<Dial action="/after" callerId="+15550001111" method="POST">'
        "<Number>+15550002001</Number></Dial></Response>"
    )
    assert twiml.speak([Say("Bye.", "en")], LOCALES) == HEAD + (
        '<Say language="en-US">Bye.</Say><Hangup /></Response>'
    )
    assert twiml.speak([], LOCALES, then_redirect="/h") == HEAD + (
        '<Redirect method="POST">/h</Redirect></Response>'
    )
