"""The composition root: reads settings, builds the store, provider, core and adapters, runs them."""
