"""Personal data governance: reading the audit trail, and a person's data export."""
