"""Contacts: the callers we know, their numbers and how they want to be served."""
