"""Exceptions raised by the pure parsers; each says what was wrong with the input."""


class ParseError(ValueError):
    """Input bytes could not be read as the expected document."""


class HostileInputError(ParseError):
    """Input carries a construct we refuse on principle (DTD, entities, oversize)."""


class NotABoletoError(ParseError):
    """A digit string is not a boleto de cobranca (for example an arrecadacao slip)."""
