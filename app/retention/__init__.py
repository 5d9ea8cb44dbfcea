"""Retention: each tenant's periods for calls, interactions, audit events and closed callbacks,
and the purge that deletes what is older (CLI `stamgast purge`, and a daily in-process run)."""
