"""IVR: admin-configured menus for voice and the text channels.

``model``/``loader``/``validate``: the menu file, read with line numbers and checked;
``engine`` (pure) with ``actions``: what a session does next; ``text``: menus on text channels;
``hours``: business hours and holidays. See docs/ivr.md.
"""
