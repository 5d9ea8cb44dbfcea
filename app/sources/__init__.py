"""Lookup sources: the tenant's other systems asked who a number is, under one deadline."""
