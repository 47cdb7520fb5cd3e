"""Tools the model may call: the built-ins, MCP servers' tools, and the loop that runs them."""
