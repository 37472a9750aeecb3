"""IVR: admin-configured menus for voice and the text channels.

The menu model, validator, engine and renderers belong here; the package is part of the
product's fixed layout and holds no code yet.
"""
