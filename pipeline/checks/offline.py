"""The offline checks of a bill: email, NFS-e, boleto and Pix, each a named Check."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from parsers import cnpj as cnpj_rules
from parsers.body import BodyFields
from parsers.boleto import barcode_from_line, due_date_candidates, format_line
from parsers.message import ParsedMessage
from parsers.pix import names_match
from parsers.xmldsig import verify_signatures
from pipeline.checks.email_auth import EmailAuthSettings, check_email
from pipeline.checks.signers import judge
from pipeline.checks.vocabulary import Check
from pipeline.config.profiles import VendorProfile
from pipeline.config.trust import TrustStore, shipped_trust
from pipeline.locale.format import money
from pipeline.vocabulary import Outcome


@dataclass(frozen=True)
class BillContext:
    """What the checks compare against: the vendor, our company, our contracts, history."""

    vendor: VendorProfile
    company_cnpjs: tuple[str, ...]
    company_domains: tuple[str, ...]
    contracts: tuple[str, ...]
    banks_seen: frozenset[str] = frozenset()
    email_auth: EmailAuthSettings | None = None  # None: nothing trusted, DKIM off
    trust: TrustStore | None = None  # None: the shipped CA bundles and issuers table only


def _money(v: Decimal | None) -> str:
    return money(v, cents=False, empty="?")


def _domain_ok(domain: str | None, allowed: tuple[str, ...]) -> bool:
    d = (domain or "").lower().rstrip(".")
    return bool(d) and any(d == a or d.endswith("." + a) for a in allowed)


_FORWARD_SUBJECT = re.compile(r"^\s*(enc|fwd?|tr|encaminhada)\s*:", re.IGNORECASE)
_QUOTED_HEADERS = re.compile(r"^\W*(de|from)\s*:.*\n(?:.*\n){0,3}?\W*(enviada em|enviado em|"
                             r"sent|date|data)\s*:", re.IGNORECASE | re.MULTILINE)


def forwarded_inline(m: ParsedMessage) -> bool:
    """An inline forward (Outlook's "ENC:", a quoted "De:/Enviada em:" block) whose documents
    were re-attached to the forward itself: the original headers are only quoted text."""
    return bool(_FORWARD_SUBJECT.match(m.email.subject or "")
                or _QUOTED_HEADERS.search(m.email.text or ""))


def sender_allowed(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """Sender domain is the vendor's; a forward counts only from our own domains."""
    name = "email.sender_allowed"
    allowed = ", ".join(ctx.vendor.sender_domains) or "(none configured)"
    if m.forwarded and not _domain_ok(m.email.from_domain, tuple(ctx.company_domains)):
        return Check(name, "unknown", f"forwarded by {m.email.from_address}, who is not in "
                     "company.email_domains: the original sender cannot be trusted")
    if not m.forwarded and forwarded_inline(m) and _domain_ok(m.email.from_domain,
                                                              tuple(ctx.company_domains)):
        return Check(name, "unknown", f"forwarded inline by {m.email.from_address} (a colleague): "
                     "the original sender cannot be proven; compare with the original email, "
                     "or forward it as an attachment")
    raw = m.effective.from_header
    sender = m.effective.from_address or (f"the From header {raw!r}, which names no address"
                                          if raw else "(no From header)")
    via = f" (forwarded by {m.email.from_address})" if m.forwarded else ""
    if ctx.vendor.sender_matches(m.effective.from_domain):
        return Check(name, "pass", f"{sender} is on {allowed}{via}")
    return Check(name, "fail", f"{sender} is not on {ctx.vendor.name}'s domain {allowed}{via}")


def contract_known(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The contract number the body names is one we configured."""
    name = "email.contract_known"
    if not ctx.contracts:
        return Check(name, "skipped", f"no [[contracts]] configured for {ctx.vendor.key}")
    if not f.contract_number:
        return Check(name, "unknown", "no contract number found in the email body")
    if f.contract_number in ctx.contracts:
        return Check(name, "pass", f"contract {f.contract_number} is configured")
    return Check(name, "fail", f"contract {f.contract_number} is not among the configured "
                 f"contracts ({', '.join(ctx.contracts)})")


def reference_month(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The body's reference month is the NFS-e competence month."""
    name = "email.reference_month_matches_nfse"
    nfse = _nfse(m)
    competence = nfse.competence if nfse else None
    if not f.reference_month or competence is None:
        missing = "the email's reference month" if not f.reference_month else "the NFS-e competence"
        return Check(name, "unknown", f"{missing} was not found")
    comp = competence.strftime("%Y-%m")
    if comp == f.reference_month:
        return Check(name, "pass", f"both say {comp}")
    return Check(name, "fail", f"email says {f.reference_month}, NFS-e competence is {comp}")


def provider_matches(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The NFS-e provider is the vendor (same CNPJ root)."""
    name = "nfse.provider_matches_vendor"
    nfse = _nfse(m)
    if nfse is None or not nfse.provider_cnpj:
        return Check(name, "unknown", "no NFS-e (or no provider CNPJ) to compare")
    shown = cnpj_rules.format_cnpj(nfse.provider_cnpj)
    if cnpj_rules.root(nfse.provider_cnpj) in ctx.vendor.cnpj_roots:
        return Check(name, "pass", f"provider {shown} is {ctx.vendor.name}")
    return Check(name, "fail", f"provider {shown} ({nfse.provider_name or 'no name'}) is not "
                 f"{ctx.vendor.name} (CNPJ roots {', '.join(ctx.vendor.cnpj_roots)})")


def taker_matches(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The NFS-e is made out to our company (same CNPJ root)."""
    name = "nfse.taker_matches_company"
    if not ctx.company_cnpjs:
        return Check(name, "skipped", "company.cnpjs is not configured")
    nfse = _nfse(m)
    if nfse is None or not nfse.taker_cnpj:
        return Check(name, "unknown", "no NFS-e (or no taker CNPJ) to compare")
    shown = cnpj_rules.format_cnpj(nfse.taker_cnpj)
    if any(cnpj_rules.same_company(nfse.taker_cnpj, c) for c in ctx.company_cnpjs):
        return Check(name, "pass", f"taker {shown} is ours")
    return Check(name, "fail", f"taker {shown} is not one of company.cnpjs")


def signature(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """Every XMLDSig signature holds and one of them is the provider's."""
    name = "nfse.signature"
    doc = m.first("nfse_xml")
    if doc is None:
        return Check(name, "skipped", "no NFS-e XML attached")
    results = doc.signatures if doc.signatures is not None else verify_signatures(
        doc.attachment.data)
    if not results:
        return Check(name, "unknown", "the NFS-e XML is not signed")
    bad = [r for r in results if not r.valid]
    if bad:
        return Check(name, "fail", "; ".join(
            f"signature over {r.reference or 'the document'} does not hold: {r.how}" for r in bad))
    nfse = doc.nfse
    covered = {r.reference.lstrip("#") for r in results}
    if nfse is not None and not covered & set(nfse.signed_ids):
        return Check(name, "fail", "the signatures hold but cover none of the elements the "
                     f"note's values were read from ({', '.join(nfse.signed_ids) or 'no Id'})")
    if nfse is not None and nfse.net_from_signed is not None and \
            abs(nfse.net_amount - nfse.net_from_signed) > Decimal("0.01"):
        return Check(name, "fail", f"ValorLiquidoNfse {nfse.net_amount} lies outside the "
                     "provider's signature and does not follow from the signed values "
                     f"({nfse.net_from_signed})")
    trust = ctx.trust or shipped_trust()
    judged = [judge(r, nfse, trust) for r in results]
    for outcome in (Outcome.FAIL, Outcome.UNKNOWN):
        worst = [j.detail for j in judged if j.outcome == outcome]
        if worst:
            return Check(name, outcome, "; ".join(worst))
    return Check(name, "pass", f"{len(results)} signature(s) hold: "
                 + "; ".join(j.detail for j in judged))


def not_cancelled(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The note is not cancelled (a cancelled note is not a bill to pay)."""
    name = "nfse.not_cancelled"
    nfse = _nfse(m)
    if nfse is None:
        return Check(name, "skipped", "no NFS-e XML attached")
    if nfse.cancellation:
        return Check(name, "fail", f"nota cancelada: NFS-e {nfse.number} was cancelled by its "
                     f"issuer ({nfse.cancellation}); do not pay it")
    return Check(name, "pass", "the XML carries no cancellation")


def email_authentication(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    # The raw bytes (for DKIM) are not here: pipeline.checks.issuer re-runs it with them.
    return check_email(m.email, None, ctx.email_auth, forwarded=m.forwarded)


def pdf_matches_xml(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The NFS-e PDF a person reads says what the XML says."""
    name = "nfse.pdf_matches_xml"
    xml_doc, pdf_doc = m.first("nfse_xml"), m.first("nfse_pdf")
    if xml_doc is None or pdf_doc is None or xml_doc.nfse is None or pdf_doc.nfse_pdf is None:
        return Check(name, "skipped", "needs both the NFS-e XML and the NFS-e PDF")
    x, p = xml_doc.nfse, pdf_doc.nfse_pdf
    pairs = [("number", x.number.lstrip("0"), (p.number or "").lstrip("0") or None),
             ("net amount", x.net_amount, p.net_amount),
             ("services amount", x.services_amount, p.services_amount)]
    if x.verification_code:
        pairs.append(("verification code", x.verification_code.upper(), p.verification_code))
    if x.access_key:
        pairs.append(("access key", x.access_key, p.access_key))
    differ = [f"{label}: XML {a}, PDF {b}" for label, a, b in pairs if b is not None and a != b]
    missing = [label for label, _a, b in pairs if b is None]
    if differ:
        return Check(name, "fail", "; ".join(differ))
    if missing:
        return Check(name, "unknown", f"not found on the PDF: {', '.join(missing)}")
    return Check(name, "pass", f"number {x.number}, amounts and code agree")


def check_digits(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """Every check digit of the printed line (or barcode) holds."""
    name = "boleto.check_digits"
    b = _boleto(m)
    unread = [d.attachment.label for d in m.documents
              if d.role == "other" and d.attachment.kind == "pdf"]
    if b is None and unread:  # a boleto nobody could read must not pass for no boleto
        return Check(name, "unknown", f"{', '.join(unread)}: a PDF that reads as neither a "
                     "boleto nor an NFS-e (no text, no barcode): look at it before paying")
    if b is None:
        return Check(name, "skipped", "no boleto attached")
    if b.boleto is None:
        pix = " (only its Pix QR code was read)" if b.pix is not None else ""
        return Check(name, "unknown", f"no line or barcode could be read{pix}: look at the "
                     "boleto before paying")
    if b.boleto.check_digits_ok:
        return Check(name, "pass", "all check digits hold")
    return Check(name, "fail", "; ".join(b.boleto.check_digit_problems))


def barcode_matches_line(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The barcode image encodes the printed line (malware rewrites the line)."""
    name = "boleto.barcode_matches_line"
    b = _boleto(m)
    if b is None:
        return Check(name, "skipped", "no boleto attached")
    if not b.printed_line:
        return Check(name, "unknown", "no printed linha digitavel found in the PDF's text")
    if not b.barcode_read:
        seen = f" (read {len(b.barcode_reads)} invalid value(s))" if b.barcode_reads else ""
        return Check(name, "unknown", f"the barcode image could not be read{seen}")
    expected = barcode_from_line(b.printed_line)
    if expected == b.barcode_read:
        return Check(name, "pass", "the barcode image encodes the printed line")
    return Check(name, "fail", f"printed line {format_line(b.printed_line)} does not match the "
                 f"barcode image {b.barcode_read}")


def bank_allowed(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The boleto's bank is configured for the vendor or seen on its ok bills."""
    name = "boleto.bank_allowed"
    b = _boleto(m)
    if b is None or b.boleto is None:
        return Check(name, "skipped", "no boleto attached")
    bank = b.boleto.bank_code
    if ctx.vendor.banks:
        if bank in ctx.vendor.banks:
            return Check(name, "pass", f"bank {bank} is configured for {ctx.vendor.name}")
        return Check(name, "fail", f"bank {bank} is not one of {ctx.vendor.name}'s banks "
                     f"({', '.join(ctx.vendor.banks)})")
    if bank in ctx.banks_seen:
        return Check(name, "pass",
                     f"bank {bank} was seen on {ctx.vendor.name}'s authenticated bills")
    return Check(name, "unknown", f"bank {bank} was never seen for {ctx.vendor.name} and no banks "
                 f"are configured: confirm it, then add it to vendors.{ctx.vendor.key}.banks")


def amount_matches(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The boleto asks for the NFS-e's net (or services) amount."""
    name = "boleto.amount_matches_nfse"
    b, nfse = _boleto(m), _nfse(m)
    pix_only = b is not None and b.boleto is None and b.pix is not None \
        and b.pix.amount is not None
    if b is None or (b.boleto is None and not pix_only):
        return Check(name, "skipped", "no boleto attached")
    if nfse is None:
        return Check(name, "unknown", "no NFS-e to compare the amount with")
    if pix_only:  # a Pix-only bill: what is paid is the QR's amount
        assert b.pix is not None and b.pix.amount is not None
        amount, what = b.pix.amount, "Pix"
    else:
        assert b.boleto is not None
        amount, what = b.boleto.amount, "boleto"
    if amount == nfse.net_amount:
        return Check(name, "pass", f"{_money(amount)} = NFS-e net amount")
    if amount == nfse.services_amount:
        return Check(name, "pass", f"{_money(amount)} = NFS-e services amount")
    return Check(name, "fail", f"{what} {_money(amount)}, NFS-e net {_money(nfse.net_amount)} "
                 f"(services {_money(nfse.services_amount)})")


def due_date_matches(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The boleto's due date is the one the email states."""
    name = "boleto.due_date_matches_email"
    b = _boleto(m)
    if b is None or b.boleto is None:
        return Check(name, "skipped", "no boleto attached")
    due = b.boleto.due_date
    if f.due_date is None or due is None:
        return Check(name, "unknown", "no due date in the email body" if f.due_date is None
                     else "the boleto has no due date (factor 0000)")
    if due == f.due_date:
        return Check(name, "pass", f"both say {due:%d/%m/%Y}")
    if f.due_date in due_date_candidates(b.boleto.due_factor):  # the factor's other reading
        return Check(name, "pass", f"both say {f.due_date:%d/%m/%Y} (the factor "
                     f"{b.boleto.due_factor:04d} read after the 2025 restart)")
    return Check(name, "fail", f"boleto {due:%d/%m/%Y}, email {f.due_date:%d/%m/%Y}")


def pix_crc(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The Pix code's CRC holds (an edited QR payload breaks it).

    Only BR Codes count: another QR (a portal's URL) is no Pix and plays no part here, and a
    BR Code that cannot be read is said as such (a person looks), never as a failed CRC.
    """
    name = "pix.crc"
    b = _boleto(m)
    if b is None or (b.pix is None and b.pix_error is None):
        return Check(name, "skipped", "no Pix QR code on the boleto")
    if b.pix is None:
        return Check(name, "unknown", b.pix_error or "the Pix QR code could not be read")
    if b.pix.crc_valid:
        return Check(name, "pass", "CRC-16 holds")
    return Check(name, "fail", "the QR code's CRC does not match its content (edited payload)")


def pix_amount(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The Pix amount, when present, is the boleto amount."""
    name = "pix.amount_matches_boleto"
    b = _boleto(m)
    if b is None or b.pix is None:
        return Check(name, "skipped", "no Pix QR code on the boleto")
    if b.pix.amount is None:
        return Check(name, "skipped", "the Pix code carries no amount")
    if b.boleto is None:  # a Pix-only bill: its amount is compared with the NFS-e instead
        return Check(name, "skipped", "no line or barcode: the Pix amount is compared with "
                     "the NFS-e (boleto.amount_matches_nfse)")
    if b.pix.amount == b.boleto.amount:
        return Check(name, "pass", f"{_money(b.pix.amount)} on both")
    return Check(name, "fail", f"Pix {_money(b.pix.amount)}, boleto {_money(b.boleto.amount)}")


def pix_merchant(m: ParsedMessage, f: BodyFields, ctx: BillContext) -> Check:
    """The Pix receiver is the vendor, by name."""
    name = "pix.merchant_matches_vendor"
    b = _boleto(m)
    if b is None or b.pix is None:
        return Check(name, "skipped", "no Pix QR code on the boleto")
    merchant = b.pix.merchant_name or ""
    if not ctx.vendor.pix_names:
        return Check(name, "unknown", f"no pix_names configured for {ctx.vendor.key}")
    if any(names_match(merchant, known) for known in ctx.vendor.pix_names):
        return Check(name, "pass", f"Pix receiver {merchant!r} is {ctx.vendor.name}")
    return Check(name, "fail", f"Pix receiver {merchant!r} is not {ctx.vendor.name}")


def _nfse(m: ParsedMessage):
    doc = m.first("nfse_xml")
    return doc.nfse if doc else None


def _boleto(m: ParsedMessage):
    doc = m.first("boleto_pdf")
    return doc.boleto if doc else None


OFFLINE_CHECKS: tuple[Callable[[ParsedMessage, BodyFields, BillContext], Check], ...] = (
    sender_allowed, email_authentication, contract_known, reference_month, provider_matches,
    taker_matches, signature, not_cancelled, pdf_matches_xml, check_digits, barcode_matches_line,
    bank_allowed, amount_matches, due_date_matches, pix_crc, pix_amount, pix_merchant,
)


def offline_checks(m: ParsedMessage, fields: BodyFields, ctx: BillContext) -> list[Check]:
    """Run every offline check; none raises, each says what it saw."""
    return [check(m, fields, ctx) for check in OFFLINE_CHECKS]
