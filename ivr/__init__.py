"""IVR: admin-configured menus for voice and the text channels (not built yet)."""
