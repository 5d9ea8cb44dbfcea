"""API keys: issuing, verifying and the scopes they carry."""
