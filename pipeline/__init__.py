"""confere's stages: configuration, mail, ingest, checks, issuers, costs, alerts, reports, CLI."""

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]),
# and `confere --version` prints it without scanning every installed distribution's metadata.
__version__ = "0.1.0"
