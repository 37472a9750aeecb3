"""Routing: who gets which contact. The strategy is pure; the service wires it to RabbitMQ."""
