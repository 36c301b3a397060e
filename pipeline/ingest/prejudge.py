"""The offline judgement of a parsed bill, made in the parse worker that parsed it.

The offline checks (the NFS-e signer's chain above all: ~10 ms a note) are pure functions of the
parsed documents, the vendor profile and the company's settings, so they run in the pool beside
the parser; the process writing to the store only re-checks what needs the store (the banks seen
on ok bills). The kit is handed to each worker once, when the pool starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parsers import BodyFields, extract_body_fields
from parsers.message import ParsedMessage
from parsers.text import only_digits
from pipeline.checks.offline import BillContext, offline_checks
from pipeline.checks.vocabulary import Check
from pipeline.config.profiles import VendorProfile
from pipeline.config.settings import Config
from pipeline.config.trust import TrustStore

BILL_ROLES = ("nfse_xml", "nfse_pdf", "boleto_pdf")


@dataclass(frozen=True)
class JudgeKit:
    """What a worker needs to judge bills offline (picklable; sent once per worker)."""

    vendors: tuple[VendorProfile, ...]
    company_cnpjs: tuple[str, ...]
    company_domains: tuple[str, ...]
    contracts: tuple[tuple[str, tuple[str, ...]], ...]  # (vendor key, contract digits)
    trust: TrustStore

    @classmethod
    def from_config(cls, config: Config) -> JudgeKit:
        """The kit for a loaded configuration."""
        company = config.settings.company
        return cls(
            vendors=tuple(config.vendors.values()),
            company_cnpjs=tuple(company.cnpjs),
            company_domains=tuple(d.lower() for d in company.email_domains),
            contracts=tuple((key, tuple(only_digits(c.number) for c in config.contracts_for(key)))
                            for key in config.vendors),
            trust=config.signature_trust,
        )

    def context(self, vendor: VendorProfile, banks_seen: frozenset[str] = frozenset()
                ) -> BillContext:
        """The BillContext the ingestor would build, the store's banks given (or none)."""
        return BillContext(vendor=vendor, company_cnpjs=self.company_cnpjs,
                           company_domains=self.company_domains,
                           contracts=dict(self.contracts).get(vendor.key, ()),
                           banks_seen=banks_seen, trust=self.trust)


@dataclass(frozen=True)
class Prejudged:
    """A parsed message with its offline judgement (when it is a vendor's bill)."""

    message: ParsedMessage
    vendor_key: str | None = None
    fields: BodyFields | None = None
    checks: tuple[Check, ...] = ()


def identify_vendor(m: ParsedMessage, vendors: Iterable[VendorProfile]) -> VendorProfile | None:
    """The vendor by sender domain, else by the NFS-e provider's CNPJ, else by subject hints."""
    vendors = list(vendors)
    for v in vendors:
        if v.sender_matches(m.effective.from_domain):
            return v
    nfse = next((d.nfse for d in m.documents if d.nfse), None)
    pdf = next((d.nfse_pdf for d in m.documents if d.nfse_pdf), None)
    provider = (nfse.provider_cnpj if nfse else None) or (pdf.provider_cnpj if pdf else None)
    for v in vendors:
        if provider and provider[:8] in v.cnpj_roots:
            return v
    if any(d.role in BILL_ROLES for d in m.documents):
        subject = (m.effective.subject or "").lower()
        for v in vendors:
            if any(h in subject for h in v.subject_hints):
                return v
    return None


def find_fields(m: ParsedMessage, vendor: VendorProfile) -> BodyFields:
    """Body fields from the email carrying the bill, filled in from the forwarding one."""
    fields = extract_body_fields(m.effective.text, vendor.body)
    if m.forwarded:
        outer = extract_body_fields(m.email.text, vendor.body)
        fields = BodyFields(fields.contract_number or outer.contract_number,
                            fields.reference_month or outer.reference_month,
                            fields.due_date or outer.due_date)
    return fields


def prejudge(m: ParsedMessage, kit: JudgeKit) -> ParsedMessage | Prejudged:
    """The offline checks of a vendor's bill; the message alone when it is none (or the
    checks raised: the writing process then judges it itself and quarantines it if need be)."""
    try:
        vendor = identify_vendor(m, kit.vendors)
        if vendor is None or m.problems or not any(d.role in BILL_ROLES for d in m.documents):
            return Prejudged(m, vendor.key if vendor else None)
        fields = find_fields(m, vendor)
        return Prejudged(m, vendor.key, fields, tuple(offline_checks(m, fields,
                                                                     kit.context(vendor))))
    except Exception:
        return m
