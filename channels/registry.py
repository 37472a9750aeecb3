"""Every channel the gateway has: the one list a new channel is added to."""

from __future__ import annotations

from channels.email.spec import EMAIL
from channels.telegram.spec import TELEGRAM
from channels.twilio.spec import SMS, WHATSAPP
from channels.voice.spec import VOICE
from channels.webchat.spec import WEBCHAT
from gateway.registry import Channels

CHANNELS = Channels((SMS, WHATSAPP, VOICE, TELEGRAM, EMAIL, WEBCHAT))
