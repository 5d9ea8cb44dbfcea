"""Figures for supervisors: the dashboard's service, its ring-to-pop store and its routes."""
