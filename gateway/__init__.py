"""Contact Gateway: every channel into one durable stream, routed to one operator console."""

__version__ = "0.1.0"
