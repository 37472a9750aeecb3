"""The operator console: its websocket, its HTTP API and the actions both share."""
