"""The gateway's exceptions root: every error raised on purpose is one of these.

Why one tree: a handler, a worker or the CLI catches the kind of failure it can answer
(refuse the request, tell the admin, read again, retry later, give up) instead of a list of
look-alike classes. This module imports nothing, so every layer (pure packages included) may
raise from it. The old names stay where callers import them from. (The pure packages' own
ValueErrors, ``routing.edits.EditError`` and ``ivr.simulation.SimulationError``, stay outside:
they import no gateway.)::

    GatewayError
    ├── Refused(status, code, reason)      a request refused with an HTTP 4xx and a reason
    │   ├── WebhookError                   channels/common.py: a provider's webhook
    │   ├── ActionError                    gateway/console/actions.py: an operator's action
    │   ├── LinkError                      gateway/storage/customers.py: linking identities
    │   └── FieldErrors(problems)          appeals/fields.py: a topic form's values, per field
    ├── ConfigError(problems)              configuration the admin must fix (file, key, reason)
    │   ├── RoutingConfigError             routing/config.py: the routing rules
    │   └── TopicsConfigError(located)     appeals/topics.py: the appeal topics (with lines)
    ├── Conflict                           someone else changed it first: read again, redo
    │   ├── VersionConflict(current)       gateway/storage/routing_configs.py
    │   ├── MenuVersionConflict(current)   gateway/storage/ivr.py
    │   ├── TopicsVersionConflict(current) appeals/topic_store.py
    │   ├── SessionConflict                gateway/storage/ivr.py: an IVR session's step
    │   └── UserExists                     gateway/storage/users.py
    ├── BrokerUnavailable                  gateway/broker.py: RabbitMQ did not take a message
    ├── ReplyTargetError                   gateway/storage/conversations.py: a reply's identity
    ├── MenuProblems(problems)             gateway/menus/ivr_menus.py: a menu that may not go live
    ├── FrameError, TokenError             channels/webchat/: a visitor's frame or token
    ├── SimulationError                    gateway/simulate.py: nothing to simulate
    └── JobError(reason)                   a delivery job (send, file fetch) did not go through
        ├── TemporaryFailure(reason, retry_after)   worth trying again later
        └── PermanentFailure(reason)       trying again will not help
            ├── PermanentFailure           gateway/dispatch.py: a send, with the status to store
            └── TooLarge(limit)            gateway/media.py: a customer's file over the limit
"""

from __future__ import annotations


class GatewayError(Exception):
    """The root of the errors the gateway raises on purpose."""


class Refused(GatewayError):
    """A request refused: the HTTP status, a short code and a reason for humans."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


class ConfigError(GatewayError):
    """A configuration problem, already phrased for the admin (file, key, reason)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Conflict(GatewayError):
    """Someone else wrote first (a newer version, a concurrent step, an existing name)."""


class BrokerUnavailable(GatewayError):
    """The broker did not take a message (down, closed channel, no confirm in time)."""


class JobError(GatewayError):
    """A delivery job (a reply to send, a file to fetch) that did not go through."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(JobError):
    """Worth trying again later (rate limited, provider down, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(JobError):
    """Trying again will not help (bad address, file too large, message refused)."""
