"""Notices: messages for callers of a tenant, a line or a tag, within a period."""
