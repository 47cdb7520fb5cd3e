"""The platform-blind core: addressing, context, the turn, providers.

Nothing in this package imports `adapters/` or `memory/`; those import us.
"""
