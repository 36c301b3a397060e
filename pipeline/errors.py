"""Exceptions of the pipeline, each for one kind of problem a person can fix."""


class ConfereError(Exception):
    """Base of confere's own errors: the message is meant for a person."""


class ConfigError(ConfereError):
    """The configuration file is missing, unreadable or invalid (the message names the key)."""
