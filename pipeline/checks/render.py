"""Check results rendered for people: pt-BR sentences from each check's code and the bill's values.

A stored check is data: its name and outcome are the code, and the bill (the invoice object of
the JSON contract) holds the values a sentence needs. The English `detail` stays what logs and
`--json` show; finance-facing output (CLI tables and cards, alerts, reports) goes through here
and through the gettext catalogue, so it reads in one language with Brazilian formats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from parsers.cnpj import format_cnpj
from pipeline.checks.vocabulary import FORGERY_GRADE, order_key
from pipeline.locale import format as fmt
from pipeline.locale.translate import _

ISSUER_CHECKS = ("authenticity.issnet", "authenticity.sefin")
EMAIL_AUTH = "email.authentication"


def N_(message: str) -> str:
    """Mark a message id for extraction; translated where it is shown."""
    return message


MEANINGS: dict[str, str] = {
    "email.sender_allowed": N_("the sender is on the vendor's domain"),
    "email.contract_known": N_("the contract named in the email is configured"),
    "email.reference_month_matches_nfse": N_("the email's reference month = the NFS-e's "
                                             "competence"),
    "email.authentication": N_("the mail server authenticates the sender (DKIM, SPF, DMARC)"),
    "nfse.provider_matches_vendor": N_("the NFS-e's provider is the vendor"),
    "nfse.taker_matches_company": N_("the NFS-e is made out to our company"),
    "nfse.signature": N_("the digital signature of the NFS-e XML holds"),
    "nfse.not_cancelled": N_("the NFS-e has not been cancelled"),
    "nfse.pdf_matches_xml": N_("the NFS-e PDF = its XML (number, code, amounts)"),
    "boleto.check_digits": N_("the check digits of the digitable line hold"),
    "boleto.barcode_matches_line": N_("the barcode = the printed digitable line"),
    "boleto.bank_allowed": N_("the boleto's bank is one of the vendor's banks"),
    "boleto.amount_matches_nfse": N_("the boleto amount = the NFS-e's net amount"),
    "boleto.due_date_matches_email": N_("the boleto's due date = the email's due date"),
    "pix.crc": N_("the Pix QR code's CRC holds"),
    "pix.amount_matches_boleto": N_("the Pix amount = the boleto amount"),
    "pix.merchant_matches_vendor": N_("the Pix receiver is the vendor"),
    "authenticity.issnet": N_("the city hall (ISSNet) confirms the note"),
    "authenticity.sefin": N_("the national NFS-e (Sefin) confirms the note"),
    "reconcile.usage": N_("amount billed = metered usage"),
    "reconcile.metric": N_("amount billed = declared metric"),
}
OUTCOMES = {"fail": N_("FAILED"), "unknown": N_("not verified"), "skipped": N_("not checked"),
            "pass": N_("checked")}
VERDICTS = {"ok": N_("ok to pay"), "review": N_("review"), "block": N_("DO NOT PAY")}
STATUSES = {"invoice": N_("bill"), "ignored": N_("ignored"), "quarantined": N_("quarantined"),
            "duplicate": N_("duplicate")}


def meaning(name: str) -> str:
    """What a check compares, in the reader's language."""
    return _(MEANINGS[name]) if name in MEANINGS else name


def outcome_word(outcome: str) -> str:
    """FALHOU, não verificado, não conferido, conferido."""
    return _(OUTCOMES[outcome]) if outcome in OUTCOMES else outcome


def status_word(status: str) -> str:
    """A message's status in words: fatura, ignorada, quarentena, duplicada."""
    return _(STATUSES[status]) if status in STATUSES else status


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _money(value: Any) -> str:
    return fmt.money(value, cents=False, empty="?")


def _failed_sentence(name: str, inv: Mapping[str, Any]) -> str | None:
    """The values behind a failure, where the bill holds them."""
    boleto, nfse = _get(inv, "boleto"), _get(inv, "nfse")
    if name == "boleto.amount_matches_nfse" and boleto and nfse:
        return _("boleto %(boleto)s, NFS-e net amount %(net)s",
                 boleto=_money(boleto.get("amount")), net=_money(nfse.get("net_amount")))
    if name == "pix.amount_matches_boleto" and boleto and boleto.get("pix"):
        return _("Pix %(pix)s, boleto %(boleto)s", pix=_money(boleto["pix"].get("amount")),
                 boleto=_money(boleto.get("amount")))
    if name == "boleto.due_date_matches_email" and boleto:
        return _("boleto due %(boleto)s, email says %(email)s",
                 boleto=fmt.day(boleto.get("due_date")), email=fmt.day(inv.get("due_date")))
    if name == "email.reference_month_matches_nfse" and nfse:
        return _("email says %(email)s, NFS-e competence %(nfse)s",
                 email=fmt.month(inv.get("reference_month")),
                 nfse=fmt.month(nfse.get("competence")))
    if name == "nfse.provider_matches_vendor" and nfse and nfse.get("provider_cnpj"):
        return _("provider %(cnpj)s (%(who)s) is not %(vendor)s",
                 cnpj=format_cnpj(nfse["provider_cnpj"]), who=nfse.get("provider_name") or "?",
                 vendor=inv.get("vendor_name") or str(inv.get("vendor") or "?").upper())
    if name == "nfse.taker_matches_company" and nfse and nfse.get("taker_cnpj"):
        return _("made out to %(cnpj)s, which is not one of our CNPJs",
                 cnpj=format_cnpj(nfse["taker_cnpj"]))
    if name == "email.contract_known" and inv.get("contract_number"):
        return _("contract %(contract)s is not configured", contract=inv["contract_number"])
    if name == "boleto.bank_allowed" and boleto and boleto.get("bank_code"):
        return _("bank %(bank)s", bank=boleto["bank_code"])
    return None


def check_line(check: Mapping[str, Any], invoice: Mapping[str, Any] | None = None) -> str:
    """One check in words: 'FALHOU: o valor do boleto = ...: boleto R$ 1.361,01, ...'."""
    name, outcome = check["name"], check["outcome"]
    if name == "email.sender_allowed" and outcome == "unknown":  # only a forward is unknown
        who = (invoice or {}).get("forwarded_by")
        return (_("review: forwarded by %(who)s, check it against the original", who=who) if who
                else _("review: forwarded, check it against the original"))
    head = f"{outcome_word(outcome)}: {meaning(name)}"
    values = _failed_sentence(name, invoice or {}) if outcome == "fail" else None
    return f"{head} ({values})" if values else head


def is_problem(check: Mapping[str, Any]) -> bool:
    """A failure, or a forgery-grade check nobody could verify."""
    return check["outcome"] == "fail" or (check["outcome"] == "unknown"
                                          and check["name"] in FORGERY_GRADE)


def problems(invoice: Mapping[str, Any], forwarded_by: str | None = None) -> list[str]:
    """The bill's failed (and forgery-grade unverified) checks in words, in the stable order."""
    if forwarded_by:
        invoice = {**invoice, "forwarded_by": forwarded_by}
    checks = sorted(invoice.get("checks") or [], key=lambda c: order_key(c["name"]))
    return [check_line(c, invoice) for c in checks if is_problem(c)]


def not_checked(checks: Iterable[Mapping[str, Any]]) -> list[str]:
    """What an `ok` did not prove: the issuer never asked, the email never authenticated."""
    by_name = {c["name"]: c["outcome"] for c in checks}
    out = []
    if not any(by_name.get(n) == "pass" for n in ISSUER_CHECKS):
        out.append(_("not checked with the city hall"))
    if by_name.get(EMAIL_AUTH) != "pass":
        out.append(_("email not authenticated"))
    return out


def verdict_words(verdict: str, checks: Iterable[Mapping[str, Any]] | None = None) -> str:
    """ok para pagar / revisar / NÃO PAGAR; an ok says what it did not check."""
    word = _(VERDICTS[verdict]) if verdict in VERDICTS else verdict
    if verdict != "ok" or checks is None:
        return word
    gaps = not_checked(checks)
    return f"ok - {' / '.join(gaps)}" if gaps else word


_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"already stored as invoice #(?P<id>\d+)"),
     N_("this NFS-e is already stored as bill #%(id)s")),
    (re.compile(r"the same message .* was stored before as #(?P<id>\d+)"),
     N_("the same email was already read (message #%(id)s)")),
    (re.compile(r"same NFS-e (?P<n>\S+) as invoice #(?P<id>\d+) but"),
     N_("same NFS-e %(n)s as bill #%(id)s but with different content: possibly a forged "
        "re-send, do not pay from this email")),
    (re.compile(r"^not from a configured vendor"), N_("not from a configured vendor")),
    (re.compile(r"^broken MIME structure"),
     N_("the email's structure is broken; the original is kept")),
    (re.compile(r"^(?P<file>[^:;]+): corrupt PDF"), N_("%(file)s: damaged PDF")),
    (re.compile(r"^(?P<file>[^:;]+): named as .* but its content"),
     N_("%(file)s: its name says one kind of file, its content another")),
    (re.compile(r"^(?P<file>[^:;]+): XML declares a DTD or entities"),
     N_("%(file)s: a dangerous XML (DTD or entities), refused")),
    (re.compile(r"^(?P<file>[^:;]+): [\d,]+ bytes, over the"),
     N_("%(file)s: larger than the configured limit")),
    (re.compile(r"^(?P<file>[^:;]+): damaged transfer encoding"),
     N_("%(file)s: damaged attachment encoding")),
    (re.compile(r"parsing took longer than"), N_("took too long to read (time limit)")),
    (re.compile(r"ran out of memory"), N_("too large to read (memory limit)")),
    (re.compile(r"could not be judged|crashed|unreadable message"),
     N_("an internal error stopped the reading; the original is kept")),
    (re.compile(r"^from (?P<who>.+) but carries no bill"),
     N_("from %(who)s, but carries no bill (no boleto, no NFS-e)")),
)


def reason_words(reason: str | None) -> str:
    """Why a message is not a new bill, in words (the English reason when no pattern fits)."""
    if not reason:
        return ""
    for pattern, message in _REASONS:
        found = pattern.search(reason)
        if found:
            return _(message, **found.groupdict())
    return _("could not be read; the original is kept for IT to look at")
