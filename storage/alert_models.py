"""Tables of a later stage (filled in by its issue)."""
