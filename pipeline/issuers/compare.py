"""Field-by-field comparison of the emailed note with the issuer's own record (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from parsers.nfse import Nfse


@dataclass(frozen=True)
class NoteFacts:
    """The fields both sides must agree on."""

    number: str | None
    verification_code: str | None
    access_key: str | None
    provider_cnpj: str | None
    taker_cnpj: str | None
    services_amount: Decimal | None
    net_amount: Decimal | None
    competence: date | None

    @classmethod
    def from_nfse(cls, n: Nfse) -> NoteFacts:
        """The facts of a parsed NFS-e (the issuer's answer)."""
        return cls(n.number, n.verification_code, n.access_key, n.provider_cnpj, n.taker_cnpj,
                   n.services_amount, n.net_amount, n.competence)


@dataclass(frozen=True)
class Difference:
    """One field on which the emailed note and the issuer's record disagree."""

    field: str
    emailed: str | None
    issuer: str | None

    def __str__(self) -> str:
        return f"{self.field}: email {self.emailed or '(none)'}, issuer {self.issuer or '(none)'}"


def _norm(field: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.strftime("%Y-%m") if field == "competence" else value.isoformat()
    text = str(value).strip().upper()
    return (text.lstrip("0") or "0") if field == "number" else text


def compare_notes(emailed: NoteFacts, issuer: NoteFacts) -> list[Difference]:
    """The fields that differ; a field the email lacks is not compared (it cannot disagree)."""
    fields = ["number", "verification_code", "access_key", "provider_cnpj", "taker_cnpj",
              "services_amount", "net_amount", "competence"]
    out = []
    for name in fields:
        mine = _norm(name, getattr(emailed, name))
        theirs = _norm(name, getattr(issuer, name))
        if mine is None:
            continue
        if mine != theirs:
            out.append(Difference(name, mine, theirs))
    return out
