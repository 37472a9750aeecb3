"""The exceptions tree: each kind of failure is caught by its branch of one root."""

from __future__ import annotations

import pytest

from channels.common import WebhookError
from channels.webchat.protocol import FrameError
from channels.webchat.tokens import TokenError
from gateway.broker import BrokerUnavailable
from gateway.console.actions import ActionError
from gateway.dispatch import PermanentFailure
from gateway.errors import (
    ConfigError,
    Conflict,
    GatewayError,
    JobError,
    Refused,
    TemporaryFailure,
)
from gateway.errors import PermanentFailure as AnyPermanentFailure
from gateway.media import TooLarge
from gateway.menus.ivr_menus import MenuProblems
from gateway.settings import ConfigError as SettingsConfigError
from gateway.simulate import SimulationError
from gateway.storage.conversations import ReplyTargetError
from gateway.storage.customers import LinkError
from gateway.storage.ivr import MenuVersionConflict, SessionConflict
from gateway.storage.routing_configs import VersionConflict
from gateway.storage.users import UserExists
from routing.config import RoutingConfigError


@pytest.mark.parametrize(
    ("error", "branch"),
    [
        (WebhookError(403, "signature", "bad signature"), Refused),
        (ActionError(409, "taken", "someone else took it"), Refused),
        (LinkError(422, "bad_field", "no such identity"), Refused),
        (ConfigError(["a.yaml: x: bad"]), ConfigError),
        (RoutingConfigError(["routing.yaml: rules: bad"]), ConfigError),
        (VersionConflict(3), Conflict),
        (MenuVersionConflict(3), Conflict),
        (SessionConflict("again"), Conflict),
        (UserExists("ada"), Conflict),
        (BrokerUnavailable("down"), GatewayError),
        (TemporaryFailure("rate limited", retry_after=2.0), JobError),
        (PermanentFailure("blocked"), AnyPermanentFailure),
        (TooLarge(10), AnyPermanentFailure),
        (ReplyTargetError("not the customer's"), GatewayError),
        (MenuProblems([]), GatewayError),
        (FrameError("bad_frame", "not JSON"), GatewayError),
        (TokenError("expired"), GatewayError),
        (SimulationError("not configured"), GatewayError),
    ],
)
def test_every_error_has_its_branch(error: GatewayError, branch: type[GatewayError]) -> None:
    assert isinstance(error, branch) and isinstance(error, GatewayError)


def test_refusals_carry_status_code_and_reason() -> None:
    error = WebhookError(413, "too_large", "the body is over 1 MiB")
    assert (error.status, error.code, error.reason, str(error)) == (
        413,
        "too_large",
        "the body is over 1 MiB",
        "the body is over 1 MiB",
    )


def test_the_old_import_places_name_the_same_classes() -> None:
    assert SettingsConfigError is ConfigError
    assert not isinstance(TemporaryFailure("x"), AnyPermanentFailure)
