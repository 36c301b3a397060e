"""Built-in vendor profiles, one TOML file each."""
