"""The words confere's stages share: message statuses, document roles, outcomes, verdicts.

Each is a StrEnum, so a member equals its stored string ("invoice", "pass", "block") and the
JSON contract and the store keep their values; code names the member instead of repeating text.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """What became of one message (the `status` of the JSON contract)."""

    PENDING = "pending"
    INVOICE = "invoice"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class DocumentRole(StrEnum):
    """What an attachment was read as."""

    NFSE_XML = "nfse_xml"
    NFSE_PDF = "nfse_pdf"
    BOLETO_PDF = "boleto_pdf"
    OTHER = "other"


class Outcome(StrEnum):
    """One check's result: pass, fail, unknown (could not decide) or skipped (does not apply)."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class Verdict(StrEnum):
    """A bill's verdict: ok (fine to pay), review (a person should look), block (forgery signs)."""

    OK = "ok"
    REVIEW = "review"
    BLOCK = "block"
