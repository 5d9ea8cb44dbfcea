"""Callback requests: promises to call someone back, shown until kept."""
