"""Helped to satisfaction: the caller's survey score and first-contact resolution per week."""
