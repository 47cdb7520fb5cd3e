"""Storage: SQLModel tables and the store that implements the core's `bot.memory.Memory`."""
