"""Outbound events: subscriptions, the outbox written with each change, and its delivery."""
