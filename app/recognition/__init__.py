"""Recognition: from a calling number (or a case reference) to the caller's card."""
