"""The ingest stage: raw bytes stored first, then parsed, judged and written in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from parsers import BodyFields
from parsers.errors import TransientFault
from parsers.message import ParsedDocument, ParsedMessage
from parsers.text import only_digits
from pipeline.checks.issuer import authenticity_checks, prefetch_issuer
from pipeline.checks.offline import BillContext, bank_allowed, offline_checks
from pipeline.checks.record import record_checks
from pipeline.checks.vocabulary import Check, verdict
from pipeline.config.profiles import VendorProfile
from pipeline.config.settings import Config
from pipeline.costs.reconcile import USAGE_MEMO, reconcile_check
from pipeline.ingest.faults import describe, is_transient
from pipeline.ingest.prejudge import BILL_ROLES, JudgeKit, Prejudged, find_fields, identify_vendor
from pipeline.ingest.sandbox import Failed, Outcome, Sandbox
from pipeline.notify.rules import enqueue_bill_alerts
from storage import BlobStore, BoletoRow, Document, Invoice, LearnedBank, Message, to_cents, utcnow
from storage.sql import bulk_insert, deferring, flush_deferred, insert_row, new_row, update_rows

log = logging.getLogger("confere.ingest")

BATCH = 32  # bills judged in one transaction at most
GATHER_SECONDS = 0.2  # how long a batch waits for the parse workers to fill it
HOLD_SECONDS = 0.25  # a batch's transaction commits once open this long (SQLite's write lock)

Pair = tuple[tuple[object, Message], "Outcome | None"]


@dataclass(frozen=True)
class Result:
    """What became of one message."""

    message_id: int
    status: str  # invoice | ignored | quarantined | duplicate
    reason: str | None
    invoice_id: int | None


class Ingestor:
    """Stores raw messages and turns them into invoices, quarantines or ignores."""

    def __init__(self, config: Config, engine: Engine, sandbox: Sandbox) -> None:
        self.config = config
        self.engine = engine
        self.blobs = BlobStore(config.blob_dir)
        self.sandbox = sandbox
        self._conn: Connection | None = None  # held while process_many runs
        # In a batch: the notes (provider CNPJ, number) that may be stored, the others are not
        # looked up one by one. None: look every note up.
        self._maybe_stored: set[tuple[str, str]] | None = None
        if sandbox is not None:  # None: a caller that only stores raw messages
            sandbox.judge_with(JudgeKit.from_config(config))

    # -- storing raw bytes -------------------------------------------------------------------
    def store_raw(self, raw: bytes, *, source: str, path: str | None = None,
                  mailbox: str | None = None, folder: str | None = None,
                  uidvalidity: int | None = None, uid: int | None = None) -> tuple[Message, bool]:
        """Keep the bytes and a message row; (row, False) when these bytes were stored before."""
        digest = self.blobs.put(raw)
        with Session(self.engine, expire_on_commit=False) as s:
            existing = s.exec(select(Message).where(Message.sha256 == digest)).first()
            if existing is not None:
                return existing, False
            msg = Message(sha256=digest, size=len(raw), source=source, path=path, mailbox=mailbox,
                          folder=folder, uidvalidity=uidvalidity, uid=uid)
            s.add(msg)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return s.exec(select(Message).where(Message.sha256 == digest)).one(), False
            return msg, True

    # -- processing --------------------------------------------------------------------------
    def ingest_paths(self, paths: Iterable[Path]) -> Iterator[tuple[Path, Result]]:
        """Store and process .eml files as a stream; yields each file's result in order."""

        def stored() -> Iterator[tuple[object, Message, bytes | None]]:
            for path in paths:
                raw = path.read_bytes()
                msg, new = self.store_raw(raw, source="file", path=str(path))
                # A message stored by a run that crashed before judging it is judged now.
                yield path, msg, raw if new or msg.status == "pending" else None

        for (path, _msg), result in self.process_many(stored()):
            yield path, result  # type: ignore[misc]

    def process_pending(self, limit: int | None = None) -> Iterator[Result]:
        """Finish messages stored but not yet processed (a crash, or a fetch-only pass)."""
        with Session(self.engine, expire_on_commit=False) as s:
            query = select(Message).where(Message.status == "pending").order_by(Message.id)
            rows = s.exec(query.limit(limit) if limit else query).all()
        items = ((row.id, row, self.blobs.get(row.sha256)) for row in rows)
        for _key, result in self.process_many(items):
            yield result

    def process_many(self, items: Iterable[tuple[object, Message, bytes | None]]
                     ) -> Iterator[tuple[tuple[object, Message], Result]]:
        """Parse in the sandbox and judge each message, lazily and in order.

        A raw of None marks a message stored before: it is reported as a duplicate.
        """
        limit = self.config.settings.limits.max_message_bytes
        oversize: dict[int, int] = {}

        def pairs() -> Iterator[tuple[tuple[object, Message], bytes | None]]:
            for key, msg, raw in items:
                if raw is not None and len(raw) > limit:
                    oversize[msg.id] = len(raw)  # type: ignore[index]
                    raw = None
                yield (key, msg), raw

        # One connection for the whole run: a bill's transaction then costs no pool checkout,
        # liveness ping and reset (three round trips to PostgreSQL a bill before).
        self._conn = self.engine.connect()
        try:
            outcomes = self.sandbox.map(pairs(), ahead=self._batch_size())
            yield from self._judge_all(outcomes, oversize, limit)
        finally:
            conn, self._conn = self._conn, None
            conn.close()

    def _judge_all(self, outcomes: Iterator[Pair], oversize: dict[int, int], limit: int
                   ) -> Iterator[tuple[tuple[object, Message], Result]]:
        """Gather the outcomes parsed within GATHER_SECONDS (up to BATCH) and judge them
        together; the workers keep parsing meanwhile (map keeps a batch more in flight)."""
        batch: list[Pair] = []
        size, opened = self._batch_size(), 0.0
        for (key, msg), outcome in outcomes:
            if msg.id in oversize:
                outcome = Failed(f"message is {oversize.pop(msg.id):,} bytes, over the "
                                 f"{limit:,} byte limit")
            batch.append(((key, msg), outcome))
            if len(batch) == 1:
                opened = time.monotonic()
            # Gathered before the transaction opens: no transaction (nor SQLite's write lock)
            # is held while a parse is awaited.
            wait = opened + GATHER_SECONDS - time.monotonic()
            if len(batch) < size and self.sandbox.next_ready(timeout=wait):
                continue
            yield from self._judge_batch(batch)
            batch = []
        yield from self._judge_batch(batch)

    def _batch_size(self) -> int:
        """Bills a transaction may carry: one when the issuer may be asked (no transaction
        stays open on the wire; prefetch_issuer asks before the bill's writes)."""
        return 1 if self.config.settings.authenticity.pkcs12 else BATCH

    def _judge_batch(self, batch: list[Pair]) -> Iterator[tuple[tuple[object, Message], Result]]:
        """Each bill with its result, in order: judged in shared transactions, the writes that
        return nothing held and run once per statement (storage.sql.deferring).

        A failure anywhere rolls back the bills not yet committed, which are then judged one
        a transaction, as finish() does: one bad bill costs the others nothing.
        """
        results: list[Result] = []
        if sum(outcome is not None for _, outcome in batch) > 1:
            try:
                self._finish_together(batch, results)
            except Exception as exc:
                log.info("a batch of %d bills was rolled back (%s); judging them one by one",
                         len(batch) - len(results), describe(exc))
        for (_key, msg), outcome in batch[len(results):]:
            results.append(self._duplicate(msg) if outcome is None else self.finish(msg, outcome))
        for (pair, _), result in zip(batch, results, strict=True):
            yield pair, result

    def _finish_together(self, batch: list[Pair], results: list[Result]) -> None:
        """Judge the batch's bills, committing every HOLD_SECONDS; results grows as they
        commit (those after it are rolled back on an error)."""
        done: list[Result] = []
        with self._session() as s, deferring(s):
            s.info[USAGE_MEMO] = {}  # the batch writes no usage: counted once a contract-month
            self._maybe_stored = _stored_notes(s, [o for _, o in batch if o is not None])
            try:
                opened = time.monotonic()
                for (_key, msg), outcome in batch:
                    done.append(self._duplicate(msg) if outcome is None
                                else self._finish(s, msg, outcome))
                    if time.monotonic() - opened > HOLD_SECONDS:
                        self._commit(s)
                        results += done
                        done, opened = [], time.monotonic()
                self._commit(s)
                results += done
            finally:
                self._maybe_stored = None

    def _commit(self, s: Session) -> None:
        """Commit the held writes, once the attachments they name are safe on disk."""
        self.blobs.sync()
        flush_deferred(s)
        s.commit()

    def _duplicate(self, msg: Message) -> Result:
        """The result of a message stored before (nothing is written)."""
        return Result(msg.id, "duplicate", _dup_reason(msg), self._invoice_id(msg))

    def finish(self, msg: Message, outcome: Outcome) -> Result:
        """Decide the message's status and write everything in one transaction.

        Whatever goes wrong while judging (a bug, a value the store refuses), the message ends
        quarantined with the reason and its raw bytes kept, and the rest of the batch goes on.
        A fault of the disk or the database is not the message's: TransientFault is raised, the
        message stays pending and is retried (quarantine is for content that cannot be read).
        """
        try:
            with self._session() as s:
                result = self._finish(s, msg, outcome)
                self._commit(s)
                return result
        except Exception as exc:
            if is_transient(exc):
                raise TransientFault(f"message #{msg.id} not judged, retried later: "
                                     f"{describe(exc)}") from exc
            log.exception("message #%s could not be judged", msg.id)
            with self._session() as s:
                row = s.get(Message, msg.id)
                assert row is not None
                result = self._close(s, row, "quarantined", "could not be judged "
                                     f"({type(exc).__name__}: {exc}); the raw message is kept")
                s.commit()
                return result

    def _session(self) -> Session:
        """A session on the run's connection (a batch of bills, or one, per transaction)."""
        return Session(self._conn or self.engine, expire_on_commit=False)

    def _finish(self, s: Session, msg: Message, outcome: Outcome) -> Result:
        """Judge one message and write its rows in the session's transaction (not committed)."""
        # This daemon holds the message's claim: its row is not re-read, and is written
        # by one UPDATE when the message is closed.
        row = msg
        if isinstance(outcome, Failed):
            return self._close(s, row, "quarantined", outcome.reason)
        pre = outcome if isinstance(outcome, Prejudged) else None
        m: ParsedMessage = outcome.message if isinstance(outcome, Prejudged) else outcome
        # The vendor first: mail from no configured vendor is ignored however odd its MIME;
        # only a vendor's unreadable mail is quarantined.
        vendor = identify_vendor(m, self.config.vendors.values())
        if vendor is None:
            _fill_headers(row, m)
            sender = m.effective.from_address or m.effective.from_header or "unknown"
            return self._close(s, row, "ignored", "not from a configured vendor "
                               f"(sender {sender})")
        if m.problems:
            _fill_headers(row, m)
            self._store_documents(s, row, m, self._write_documents(m))
            return self._close(s, row, "quarantined", "; ".join(m.problems))
        if not any(d.role in BILL_ROLES for d in m.documents):
            _fill_headers(row, m)
            return self._close(s, row, "ignored", f"from {vendor.name} but carries no bill "
                               "(no boleto, no NFS-e)")
        writing = self._write_documents(m)  # the disk syncs while the bill is judged
        # Reads and the issuer's answer first, writes after: no write lock is held while
        # the issuer's web service is asked (SQLite has one writer at a time).
        fields, checks = self._offline(s, m, vendor, pre)
        invoice = _invoice(row, m, vendor, fields, checks)
        dup = self._existing_invoice(s, invoice)
        issuer_answer = prefetch_issuer(invoice, self.config) if dup is None else None
        _fill_headers(row, m)
        # The message's row stays out of the session (written once, by _close); nothing
        # pending is flushed before the checks are written.
        with s.no_autoflush:
            self._store_documents(s, row, m, writing)
            if dup is not None:
                return self._resent(s, row, dup, invoice, m, checks)
            _settle(row, "invoice", None)
            # Core INSERTs: the new rows are not read back, so no ORM object is flushed
            # for them (the ORM's per-object work was most of the writing process's time).
            invoice.id = insert_row(s, invoice)
            if self._maybe_stored is not None and (key := _note_key(m)) is not None:
                self._maybe_stored.add(key)  # a later bill of the batch may resend it
            boleto = _boleto_row(invoice.id, m)
            if boleto is not None:
                bulk_insert(s, BoletoRow, [boleto])
            # Every stage judges the new bill, then its checks are written once, together:
            # offline checks, the issuer's look-up (authenticity.*), reconciliation
            # (reconcile.*). Their reads need none of the bill's pending rows.
            checks += authenticity_checks(s, invoice, m, self.config, new=True,
                                          prefetched=issuer_answer)
            checks.append(reconcile_check(s, invoice, self.config))
        record_checks(s, invoice, checks, new=True)
        enqueue_bill_alerts(s, invoice, self.config)  # keep last: reads the final verdict
        return self._close(s, row, "invoice", None, invoice_id=invoice.id)

    def _resent(self, s: Session, row: Message, dup: Invoice, invoice: Invoice,
                m: ParsedMessage, checks: list[Check]) -> Result:
        """A note already stored: a changed copy is quarantined, the same one is a duplicate
        (or takes the invoice over when it reached the mailbox first)."""
        flush_deferred(s)  # the stored bill may be one of this batch
        changed = _differs_from_stored(s, dup, invoice, m)
        if changed:
            failed = [c.name for c in checks if c.outcome == "fail"]
            return self._close(
                s, row, "quarantined",
                f"same NFS-e {invoice.nfse_number} as invoice #{dup.id} but {changed}: "
                "possibly a forged re-send, do not pay from this email"
                + (f" (its own checks failed: {', '.join(failed)})" if failed else ""))
        earlier = s.get(Message, dup.message_id)
        if earlier is not None and _received_first(row, earlier):
            return self._take_over(s, row, earlier, dup)
        return self._close(s, row, "duplicate", f"NFS-e {invoice.nfse_number} of "
                           f"{invoice.provider_cnpj} is already stored as invoice "
                           f"#{dup.id}", invoice_id=dup.id)

    def _close(self, s: Session, row: Message, status: str, reason: str | None,
               invoice_id: int | None = None) -> Result:
        """Write the message's outcome and headers (one Core UPDATE, held in a batch); the
        caller commits."""
        _settle(row, status, reason)
        update_rows(s, Message, [
            {"id": row.id, "status": row.status, "reason": row.reason,
             "processed_at": row.processed_at, "message_id": row.message_id,
             "from_address": row.from_address, "subject": row.subject, "sent_at": row.sent_at}])
        return Result(row.id, status, reason, invoice_id)

    def _take_over(self, s: Session, row: Message, later: Message, inv: Invoice) -> Result:
        """A re-sent bill whose copy was received first becomes the invoice's message; the
        copy judged before it becomes the duplicate (whatever order the mailbox gave them)."""
        inv.message_id = row.id  # type: ignore[assignment]
        s.add(inv)
        _settle(later, "duplicate", f"NFS-e {inv.nfse_number} of {inv.provider_cnpj} was "
                f"received first as message #{row.id} (invoice #{inv.id})")
        later.processed_at = utcnow()
        s.add(later)
        return self._close(s, row, "invoice", None, invoice_id=inv.id)

    def _write_documents(self, m: ParsedMessage) -> list[Future[str]]:
        """Start writing the message's attachments to the blob store (each once), made
        durable together by one sync at the commit."""
        return self.blobs.put_async([d.attachment.data for d in _unique_documents(m)],
                                    durable=False)

    def _store_documents(self, s: Session, row: Message, m: ParsedMessage,
                         writing: list[Future[str]]) -> None:
        """Document rows for the attachments, once their bytes are safely on disk."""
        for done in writing:
            done.result()  # an OSError (disk full) fails the message here, before any commit
        # One INSERT in the bill's transaction, no row objects (nothing reads them back).
        bulk_insert(s, Document, [
            {"message_id": row.id, "sha256": d.attachment.sha256,
             "filename": d.attachment.filename, "content_type": d.attachment.content_type,
             "kind": d.role, "size": len(d.attachment.data), "error": d.note}
            for d in _unique_documents(m)])

    def _offline(self, s: Session, m: ParsedMessage, vendor: VendorProfile,
                 pre: Prejudged | None) -> tuple[BodyFields, list[Check]]:
        """The body fields and offline checks: the worker's, with the bank re-checked against
        the store when the vendor has no configured banks; judged here when the worker could
        not."""
        if pre is None or not pre.checks or pre.vendor_key != vendor.key or pre.fields is None:
            fields = find_fields(m, vendor)
            return fields, offline_checks(m, fields, bill_context(s, self.config, vendor))
        checks = list(pre.checks)
        if not vendor.banks:
            ctx = bill_context(s, self.config, vendor)
            checks = [bank_allowed(m, pre.fields, ctx) if c.name == "boleto.bank_allowed" else c
                      for c in checks]
        return pre.fields, checks

    def _existing_invoice(self, s: Session, inv: Invoice) -> Invoice | None:
        """The stored invoice of the same note; in a batch, looked up only when it may be."""
        if self._maybe_stored is not None and (
                (inv.provider_cnpj, inv.nfse_number) not in self._maybe_stored):
            return None
        return _existing_invoice(s, inv)

    def _invoice_id(self, msg: Message) -> int | None:
        with Session(self.engine) as s:
            inv = s.exec(select(Invoice).where(Invoice.message_id == msg.id)).first()
            return inv.id if inv else None


def bill_context(s: Session, config: Config, vendor: VendorProfile,
                 exclude_invoice: int | None = None) -> BillContext:
    """What a vendor's bill is judged against; exclude_invoice: a stored bill being re-judged
    (its own bank must not vouch for itself)."""
    company = config.settings.company
    seen: set[str] = set()
    if not vendor.banks:  # banks seen on good bills, or confirmed by a person, stand in
        flush_deferred(s)  # good bills of the batch being judged count too
        query = (select(BoletoRow.bank_code).join(Invoice, BoletoRow.invoice_id == Invoice.id)
                 .where(Invoice.vendor == vendor.key, Invoice.verdict == "ok"))
        if exclude_invoice is not None:
            query = query.where(Invoice.id != exclude_invoice)
        seen.update(s.exec(query.distinct()).all())
        seen.update(s.exec(select(LearnedBank.bank_code)
                           .where(LearnedBank.vendor == vendor.key)).all())
    return BillContext(
        vendor=vendor,
        company_cnpjs=tuple(company.cnpjs),
        company_domains=tuple(d.lower() for d in company.email_domains),
        contracts=tuple(only_digits(c.number) for c in config.contracts_for(vendor.key)),
        banks_seen=frozenset(seen),
        trust=config.signature_trust,
    )


def _dup_reason(msg: Message) -> str:
    return f"the same message (sha256 {msg.sha256[:12]}…) was stored before as #{msg.id}"


def _unique_documents(m: ParsedMessage) -> list[ParsedDocument]:
    """The message's documents, the first of each attachment when one is attached twice."""
    first: dict[str, ParsedDocument] = {}
    for d in m.documents:
        first.setdefault(d.attachment.sha256, d)
    return list(first.values())


def _settle(row: Message, status: str, reason: str | None) -> None:
    """Set the message's outcome (once: settling it again on commit writes nothing more)."""
    if row.processed_at is None or (row.status, row.reason) != (status, reason):
        row.status, row.reason, row.processed_at = status, reason, utcnow()


def _received_first(new: Message, old: Message) -> bool:
    """Whether `new` reached the mailbox before `old`: by INTERNALDATE (the server's arrival
    time), then by the Date header; when neither tells, the copy judged first stays first."""
    for a, b in ((new.internal_date, old.internal_date), (new.sent_at, old.sent_at)):
        if a is not None and b is not None and a != b:
            return a < b
    return False


def _fill_headers(row: Message, m: ParsedMessage) -> None:
    row.message_id = m.email.message_id
    row.from_address = m.email.from_address
    row.subject = m.email.subject
    row.sent_at = m.email.date if m.email.date and m.email.date.tzinfo else None


def _note_key(m: ParsedMessage) -> tuple[str, str] | None:
    """(provider CNPJ, NFS-e number) of the message's note, as _invoice reads them."""
    xml, pdf = m.first("nfse_xml"), m.first("nfse_pdf")
    cnpj: str | None
    number: str | None
    if xml is not None and xml.nfse is not None:
        cnpj, number = xml.nfse.provider_cnpj, xml.nfse.number
    elif pdf is not None and pdf.nfse_pdf is not None:
        cnpj, number = pdf.nfse_pdf.provider_cnpj, pdf.nfse_pdf.number
    else:
        return None
    return (cnpj, number) if cnpj and number else None


def _stored_notes(s: Session, outcomes: list[Outcome]) -> set[tuple[str, str]]:
    """Which of the outcomes' notes are stored already: one query for a batch."""
    keys = {key for o in outcomes if not isinstance(o, Failed)
            and (key := _note_key(o.message if isinstance(o, Prejudged) else o)) is not None}
    if not keys:
        return set()
    rows = s.connection().execute(
        select(Invoice.provider_cnpj, Invoice.nfse_number).where(
            tuple_(Invoice.provider_cnpj, Invoice.nfse_number).in_(sorted(keys)))).all()
    return {(cnpj, number) for cnpj, number in rows}


def _existing_invoice(s: Session, inv: Invoice) -> Invoice | None:
    """The stored invoice of the same note: a plain id look-up first (there is rarely one)."""
    if not inv.nfse_number or not inv.provider_cnpj:
        return None
    found = s.connection().execute(
        select(Invoice.id).where(Invoice.provider_cnpj == inv.provider_cnpj,  # type: ignore[arg-type]
                                 Invoice.nfse_number == inv.nfse_number).limit(1)).scalar()
    return None if found is None else s.get(Invoice, found)


def _differs_from_stored(s: Session, stored: Invoice, new: Invoice,
                         m: ParsedMessage) -> str | None:
    """What a re-sent bill changes against the stored one (boleto, Pix, amount), in words."""
    old = s.exec(select(BoletoRow).where(BoletoRow.invoice_id == stored.id)).first()
    fresh = _boleto_row(stored.id, m)
    if (old is None) != (fresh is None):
        return "a boleto was added or removed"
    if old is not None and fresh is not None:
        if old.barcode != fresh["barcode"]:
            return f"a different boleto (barcode {fresh['barcode']}, stored {old.barcode})"
        if old.pix_payload != fresh["pix_payload"]:
            return "a different Pix QR code"
    if stored.net_cents != new.net_cents or stored.services_cents != new.services_cents:
        return "different NFS-e amounts"
    return None


def _invoice(row: Message, m: ParsedMessage, vendor: VendorProfile, fields: BodyFields,
             checks: list[Check]) -> Invoice:
    """The bill's invoice row, from its NFS-e (the XML, else the PDF); built in one call, as
    each attribute set on a table model afterwards costs as much as one more row."""
    xml = m.first("nfse_xml")
    pdf = m.first("nfse_pdf")
    note: dict[str, Any] = {}
    if xml is not None and xml.nfse is not None:
        n = xml.nfse
        note = dict(
            nfse_layout=n.layout, nfse_number=n.number, verification_code=n.verification_code,
            access_key=n.access_key, issued_at=n.issued_at.isoformat() if n.issued_at else None,
            competence=n.competence, provider_cnpj=n.provider_cnpj,
            provider_name=n.provider_name,
            provider_municipal_registration=n.provider_municipal_registration,
            taker_cnpj=n.taker_cnpj, services_cents=to_cents(n.services_amount),
            deductions_cents=to_cents(n.deductions_amount), iss_cents=to_cents(n.iss_amount),
            iss_withheld=n.iss_withheld, retentions_cents=to_cents(n.retentions_amount),
            net_cents=to_cents(n.net_amount), service_item=n.service_item,
            municipality_code=n.municipality_code)
    elif pdf is not None and pdf.nfse_pdf is not None:
        p = pdf.nfse_pdf
        note = dict(
            nfse_layout="pdf", nfse_number=p.number, verification_code=p.verification_code,
            access_key=p.access_key, competence=p.competence, provider_cnpj=p.provider_cnpj,
            taker_cnpj=p.taker_cnpj, services_cents=to_cents(p.services_amount),
            net_cents=to_cents(p.net_amount))
    return Invoice(message_id=row.id, vendor=vendor.key, contract_number=fields.contract_number,
                   reference_month=fields.reference_month, due_date=fields.due_date,
                   verdict=verdict(checks), **note)


def _boleto_row(invoice_id: int | None, m: ParsedMessage) -> dict[str, Any] | None:
    """The bill's boleto as a new row (Core INSERT), or None without one."""
    doc = m.first("boleto_pdf")
    if doc is None or doc.boleto is None or doc.boleto.boleto is None:
        return None
    b, pix = doc.boleto.boleto, doc.boleto.pix
    return new_row(
        BoletoRow,
        invoice_id=invoice_id, digitable_line=b.digitable_line, barcode=b.barcode,
        bank_code=b.bank_code, due_date=b.due_date, amount_cents=to_cents(b.amount),
        barcode_read=doc.boleto.barcode_read is not None,
        pix_payload=pix.payload if pix else None, pix_crc_valid=pix.crc_valid if pix else None,
        pix_merchant_name=pix.merchant_name if pix else None,
        pix_merchant_city=pix.merchant_city if pix else None,
        pix_amount_cents=to_cents(pix.amount) if pix else None,
        pix_key=pix.key if pix else None, pix_url=pix.url if pix else None,
        pix_txid=pix.txid if pix else None,
    )
