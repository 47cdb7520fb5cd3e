"""Adapters translate a platform to and from the core (bot/). They never talk to each other."""
