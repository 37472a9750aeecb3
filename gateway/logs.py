"""structlog set-up: JSON lines with dotted event names and ids bound in contextvars.

Why: one grep-able stream where every line of a request or a conversation carries its ids, also
across RabbitMQ hops (the ids travel in AMQP headers and are bound again by each consumer).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog

REQUEST_ID_HEADER = "x-request-id"
CONVERSATION_ID_HEADER = "x-conversation-id"


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")


def ids_from_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """The logging ids carried in an AMQP message's headers."""
    out: dict[str, str] = {}
    for header, key in (
        (REQUEST_ID_HEADER, "request_id"),
        (CONVERSATION_ID_HEADER, "conversation_id"),
    ):
        value = (headers or {}).get(header)
        if value is not None:
            out[key] = value.decode() if isinstance(value, bytes) else str(value)
    return out


def trace_headers() -> dict[str, str]:
    """The current request id as an AMQP header, so consumers log under the same id."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return {REQUEST_ID_HEADER: str(request_id)} if request_id else {}
