"""Prometheus metrics, one registry per application (no process-wide globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.inbound = Counter(
            "cg_inbound_messages_total", "Inbound messages stored", ["channel"], registry=r
        )
        self.duplicates = Counter(
            "cg_inbound_duplicates_total",
            "Inbound messages dropped as duplicates",
            ["channel"],
            registry=r,
        )
        self.rejected = Counter(
            "cg_rejected_input_total",
            "Input refused with a clear error",
            ["channel", "reason"],
            registry=r,
        )
        self.outbound = Counter(
            "cg_outbound_messages_total", "Replies stored", ["channel"], registry=r
        )
        self.outbox_published = Counter(
            "cg_outbox_published_total", "Outbox rows published with a confirm", registry=r
        )
        self.outbox_backlog = Gauge(
            "cg_outbox_backlog", "Outbox rows not yet published", registry=r
        )
        self.outbox_write_stalls = Counter(
            "cg_outbox_write_stalls_total",
            "Times the outbox relay waited too long for the database writer",
            registry=r,
        )
        self.offers = Counter("cg_offers_total", "Offers made by the active router", registry=r)
        self.sockets = Gauge("cg_websockets", "Open websockets", ["kind"], registry=r)
        self.sent = Counter(
            "cg_outbound_sent_total", "Replies a provider accepted", ["channel"], registry=r
        )
        self.send_failed = Counter(
            "cg_outbound_failed_total", "Replies given up on", ["channel"], registry=r
        )
        self.send_retried = Counter(
            "cg_outbound_retries_total", "Sends scheduled for another try", ["channel"], registry=r
        )
        self.intake_seconds = Histogram(
            "cg_intake_seconds", "Time to store an inbound message", ["channel"], registry=r
        )
