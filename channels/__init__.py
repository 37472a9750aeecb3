"""Channel adapters: each verifies and parses its provider's input into the normalized model."""
