"""confere's exceptions, one tree under ConfereError: each class is one kind of problem.

The tree lives in the lowest layer so that every package (parsers included) raises from it;
callers branch on the class, never on the message, which is written for a person.
"""

from __future__ import annotations


class ConfereError(Exception):
    """Base of confere's own errors: the message is meant for a person."""


# --- reading bytes (parsers) ---------------------------------------------------------------
class ParseError(ConfereError, ValueError):
    """Input bytes could not be read as the expected document."""


class HostileInputError(ParseError):
    """Input carries a construct we refuse on principle (DTD, entities, oversize)."""


class NotABoletoError(ParseError):
    """A digit string is not a boleto de cobranca (for example an arrecadacao slip)."""


class NotAnNfseError(ParseError):
    """Well-formed XML that holds no NFS-e (another kind of file sent beside the bill)."""


class EcfError(ParseError):
    """The bytes are not an ECF file, or lack the figures a declaration needs."""


# --- configuration and data a person supplies ----------------------------------------------
class ConfigError(ConfereError):
    """The configuration file is missing, unreadable or invalid (the message names the key)."""


class RowError(ConfereError, ValueError):
    """One field of one row of an imported file is wrong."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field_name
        self.problem = problem


class DeclarationError(ConfereError):
    """A declaration's figures or status cannot be accepted (the message says which)."""


# --- mail and the daemon -------------------------------------------------------------------
class MailboxError(ConfereError):
    """A mailbox cannot be used as configured (credentials, post-action, server refusal)."""


class DaemonRefused(ConfereError):
    """A second daemon on a store that allows only one (SQLite)."""


class LeaseLost(ConfereError):
    """Another daemon took this folder over (our lease expired): stop without writing."""


class BlobWriteError(ConfereError):
    """The blob store refused a write (disk full, read-only): not a dropped connection."""


# --- asking others (issuers, DNS) ----------------------------------------------------------
class IssuerError(ConfereError):
    """The issuer could not be asked or answered something unusable; the message is for people."""


class IssuerUnavailable(IssuerError):
    """The issuer did not answer (unreachable, timeout, 5xx): worth asking again later."""


class CertificateError(IssuerError):
    """Our client certificate is missing, unreadable, or refused by the server."""


class DnsTrouble(ConfereError):
    """A DKIM key look-up that could not be completed (timeout, server failure)."""


# --- the desk: people deciding what to pay -------------------------------------------------
class DeskError(ConfereError):
    """A desk action was refused; `code` is a stable key a user interface can translate."""

    code = "desk_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotAllowed(DeskError):
    """The actor's role does not allow this action (a viewer approving, an approver overriding)."""

    code = "not_allowed"


class WorkflowError(DeskError):
    """The bill is not in a state that allows this action (approving a paid bill, no reason)."""

    code = "workflow"


class AccountError(DeskError):
    """A user or token cannot be created or used as asked (a name taken, a weak password)."""

    code = "account"
