"""Interactions: every contact moment with a caller, newest first."""
