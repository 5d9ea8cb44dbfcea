"""Calls: phone systems' webhooks in, the call's life recorded, the card popped."""
