"""The tenant's own settings: how its numbers are read."""
