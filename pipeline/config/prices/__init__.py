"""Built-in price tables, one TOML file each (versioned, with a validity start)."""
