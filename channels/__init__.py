"""Channel adapters: each verifies and parses its provider's input into the normalized model.

Each package declares itself once in its ``spec.py``; ``channels/registry.py`` lists them."""
