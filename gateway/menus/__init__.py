"""The IVR glue: the menus in force (versions, import, publish), the lookups a step runs, the
admin page and simulator, and the menus on text channels. The engine itself is pure (ivr/)."""
