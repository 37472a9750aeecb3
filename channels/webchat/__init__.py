"""Web chat: an embeddable widget talking to the gateway over a websocket."""
