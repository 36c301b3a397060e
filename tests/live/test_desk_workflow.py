"""The desk's workflow on SQLite and on a real PostgreSQL cluster, on bills ingested from the
sample mailbox: decisions, payments, undo, roles, learned banks, recheck, the audit log."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, select

from parsers.errors import NotAllowed, WorkflowError
from pipeline.config import settings as config_mod
from pipeline.desk import audit, users, workflow
from pipeline.desk.queries import list_bills
from pipeline.desk.roles import Action, Actor, Role, can
from pipeline.desk.workflow import DecisionState
from pipeline.ingest.ingestor import Ingestor
from pipeline.ingest.sandbox import parse_inline
from storage import (
    ApiToken,
    AuditEntry,
    BlobStore,
    CheckRow,
    Invoice,
    InvoiceDecision,
    LearnedBank,
    User,
    open_store,
)

from conftest import FIXTURES, TEST_CAS

GENUINE_1 = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"
GENUINE_2 = FIXTURES / "mailbox" / "genuine-02-abrasf-namespaced.eml"
FORGED = FIXTURES / "mailbox" / "tampered-check-digit.eml"
ANA = Actor("ana", Role.APPROVER, "192.0.2.10")
ROOT = Actor("root", Role.ADMIN, "cli")
VERA = Actor("vera", Role.VIEWER, "192.0.2.11")
_PARSED: dict[bytes, object] = {}


class ParsedOnce:
    """The sandbox's interface over real parses done once per test session (parsing is slow).
    It judges nothing itself: the ingestor then judges each bill in its own process."""

    def judge_with(self, kit) -> None:
        """Workers would take the judging kit here; parses done inline take none."""

    def next_ready(self, timeout: float = 0.0) -> bool:
        """Parses here are done when asked for: none waits ahead."""
        return False

    def map(self, items, ahead: int = 0):
        for key, raw in items:
            if raw is None:
                yield key, None
                continue
            if raw not in _PARSED:
                _PARSED[raw] = parse_inline(raw, 20 * 1024 * 1024)
            yield key, _PARSED[raw]


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request, tmp_path):
    """(config, engine, ingest) on a fresh store; the starter's situation: no banks configured."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'desk.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_store(url)
    if request.param == "postgresql":
        with engine.begin() as conn:  # the shared database: start from no bills, no people
            conn.exec_driver_sql("TRUNCATE messages, users, api_tokens RESTART IDENTITY CASCADE")
    config = config_mod.from_dict({
        "database": {"url": url}, "storage": {"blobs": str(tmp_path / "blobs")},
        "company": {"cnpjs": ["12345678000195"]}, "vendors": {"serpro": {"banks": []}},
        "authenticity": {"signature_cas": [str(TEST_CAS)]}},  # the fixtures' test PKI
        tmp_path)
    ingestor = Ingestor(config, engine, ParsedOnce())  # type: ignore[arg-type]

    def ingest(path: Path) -> int:
        [(_p, result)] = list(ingestor.ingest_paths([path]))
        assert result.status == "invoice", result
        return result.invoice_id  # type: ignore[return-value]

    yield config, engine, ingest
    if request.param == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE messages, users, api_tokens RESTART IDENTITY CASCADE")
    engine.dispose()


def _verdict(engine, invoice_id: int) -> str:
    with Session(engine) as s:
        return s.get(Invoice, invoice_id).verdict


def _bank_check(engine, invoice_id: int) -> str:
    with Session(engine) as s:
        return s.exec(select(CheckRow.outcome).where(CheckRow.invoice_id == invoice_id,
                                                     CheckRow.name == "boleto.bank_allowed")).one()


def test_one_approval_of_an_unseen_bank_makes_the_next_bill_from_it_ok(desk):
    _config, engine, ingest = desk
    first = ingest(GENUINE_1)
    assert (_verdict(engine, first), _bank_check(engine, first)) == ("review", "unknown")
    with Session(engine) as s:
        workflow.approve(s, first, ANA, "Banco do Brasil confirmado com o SERPRO por telefone")
        s.commit()
        assert workflow.state_of(s, s.get(Invoice, first)) == DecisionState.APPROVED
        [bank] = workflow.learned_banks(s, "serpro")
        assert (bank.bank_code, bank.learned_by, bank.invoice_id) == ("001", "ana", first)
    second = ingest(GENUINE_2)
    assert (_verdict(engine, second), _bank_check(engine, second)) == ("ok", "pass")


def test_undoing_the_approval_forgets_the_bank_it_taught(desk):
    _config, engine, ingest = desk
    first = ingest(GENUINE_1)
    with Session(engine) as s:
        workflow.approve(s, first, ANA, "confirmado")
        s.commit()
        workflow.undo(s, first, ANA, "aprovei a fatura errada")
        s.commit()
        assert workflow.state_of(s, s.get(Invoice, first)) == DecisionState.OPEN
        assert workflow.learned_banks(s) == []
        [undo, approve] = audit.entries(s, invoice_id=first)
        assert (undo.action, json.loads(undo.after)["forgot_banks"]) == ("undo", ["001"])
        assert json.loads(approve.after)["learned_bank"] == "001"
    assert _verdict(engine, ingest(GENUINE_2)) == "review"


def test_an_approval_clears_the_stored_bills_waiting_on_the_same_bank_and_undo_restores(desk):
    _config, engine, ingest = desk
    first, waiting = ingest(GENUINE_1), ingest(GENUINE_2)
    assert _verdict(engine, waiting) == "review"  # stored before anyone confirmed the bank
    with Session(engine) as s:
        workflow.approve(s, first, ANA, "confirmado")
        s.commit()
    assert (_verdict(engine, waiting), _bank_check(engine, waiting)) == ("ok", "pass")
    assert _verdict(engine, first) == "review"  # the machine's verdict; a person approved it
    with Session(engine) as s:
        approval, _recheck = audit.entries(s)  # the approval on top, naming what it cleared
        assert (approval.action, json.loads(approval.after)["rechecked"]) == ("approve", [waiting])
        [entry] = audit.entries(s, invoice_id=waiting)
        assert (entry.action, json.loads(entry.after)) == ("recheck", {
            "verdict": "ok", "checks": {"boleto.bank_allowed": "pass"}, "learned_from": first})
        workflow.undo(s, first, ANA, "o banco não foi confirmado afinal")
        s.commit()
    assert (_verdict(engine, waiting), _bank_check(engine, waiting)) == ("review", "unknown")


def test_roles_decide_who_may_do_what(desk):
    _config, engine, ingest = desk
    review, forged = ingest(GENUINE_1), ingest(FORGED)
    assert _verdict(engine, forged) == "block"
    with Session(engine) as s:
        for act in (lambda: workflow.approve(s, review, VERA, "quero"),
                    lambda: workflow.reject(s, review, VERA, "quero"),
                    lambda: workflow.mark_paid(s, review, VERA, date(2026, 4, 20)),
                    lambda: workflow.recheck(s, _config, [review], VERA),
                    lambda: workflow.override_block(s, forged, ANA, "pagar", confirm=True)):
            with pytest.raises(NotAllowed) as caught:
                act()
            assert caught.value.code == "not_allowed"
        s.rollback()
        assert s.exec(select(AuditEntry)).all() == []
        assert s.exec(select(InvoiceDecision)).all() == []
    assert [a for a in Action if can(VERA, a)] == []
    assert {a for a in Action if can(ANA, a)} == {
        Action.APPROVE, Action.REJECT, Action.UNDO, Action.PAY, Action.RECHECK, Action.RETRY}
    assert all(can(ROOT, a) for a in Action) and not can(None, Action.APPROVE)


def test_a_blocked_bill_is_paid_only_after_an_admin_override_with_confirmation(desk):
    config, engine, ingest = desk
    forged = ingest(FORGED)
    with Session(engine, expire_on_commit=False) as s:
        with pytest.raises(WorkflowError) as caught:
            workflow.approve(s, forged, ROOT, "parece certo")
        assert caught.value.code == "blocked"
        with pytest.raises(WorkflowError) as caught:
            workflow.mark_paid(s, forged, ANA, date(2026, 4, 20))
        assert caught.value.code == "blocked"
        with pytest.raises(WorkflowError) as caught:
            workflow.override_block(s, forged, ROOT, "o banco confirmou", confirm=False)
        assert caught.value.code == "confirm_required"
        workflow.override_block(s, forged, ROOT, "o banco confirmou", confirm=True)
        s.commit()
        inv = s.get(Invoice, forged)
        assert workflow.fit_to_pay(inv, workflow.decision_of(s, forged))
        proof = b"%PDF-1.4 comprovante de pagamento"
        workflow.mark_paid(s, forged, ANA, date(2026, 4, 19), proof=proof,
                           proof_name="../../comprovante abril.pdf",
                           blobs=BlobStore(config.blob_dir))
        s.commit()
        decision = workflow.decision_of(s, forged)
        assert decision.proof_sha256 == hashlib.sha256(proof).hexdigest()
        assert decision.proof_name == "comprovante abril.pdf"
        assert BlobStore(config.blob_dir).get(decision.proof_sha256) == proof
        assert workflow.paid_on(s.get(Invoice, forged), decision) == date(2026, 4, 19)
        workflow.undo(s, forged, ANA, "pagamento estornado")  # the payment goes first
        s.commit()
        assert workflow.state_of(s, s.get(Invoice, forged)) == DecisionState.OVERRIDDEN
        assert s.get(Invoice, forged).paid_at is None
        with pytest.raises(NotAllowed):  # an approver cannot take back an admin's override
            workflow.undo(s, forged, ANA, "não concordo")
        workflow.undo(s, forged, ROOT, "revendo")
        s.commit()
        assert workflow.state_of(s, s.get(Invoice, forged)) == DecisionState.OPEN
        actions = [(e.action, e.actor) for e in audit.entries(s, invoice_id=forged)]
    assert actions == [("undo", "root"), ("undo", "ana"), ("pay", "ana"), ("override", "root")]


def test_state_rules_and_reasons(desk):
    _config, engine, ingest = desk
    review = ingest(GENUINE_1)
    with Session(engine) as s:
        for bad, code in (("", "reason_required"), ("   ", "reason_required"),
                          ("x" * 2001, "reason_too_long")):
            with pytest.raises(WorkflowError) as caught:
                workflow.approve(s, review, ANA, bad)
            assert caught.value.code == code
        with pytest.raises(WorkflowError) as caught:
            workflow.mark_paid(s, review, ANA, date(2026, 4, 20))
        assert caught.value.code == "needs_approval"
        with pytest.raises(WorkflowError) as caught:
            workflow.undo(s, review, ANA, "nada")
        assert caught.value.code == "nothing_to_undo"
        with pytest.raises(WorkflowError) as caught:
            workflow.approve(s, 999, ANA, "nada")
        assert caught.value.code == "not_found"
        workflow.reject(s, review, ANA, "cobrança em\x1b[2J duplicidade\x00")
        s.commit()
        assert audit.entries(s)[0].reason == "cobrança em[2J duplicidade"  # no terminal codes
        for act, code in ((lambda: workflow.approve(s, review, ANA, "mudei de ideia"),
                           "already_decided"),
                          (lambda: workflow.mark_paid(s, review, ANA, date(2026, 4, 20)),
                           "rejected")):
            with pytest.raises(WorkflowError) as caught:
                act()
            assert caught.value.code == code
        assert [r.invoice.id for r in list_bills(s, status="rejected")] == [review]
        assert list_bills(s, status="payable") == []
        assert list_bills(s, due="overdue", today=date(2026, 12, 1)) == []  # rejected: not due


def test_the_audit_log_cannot_be_changed_or_deleted(desk):
    _config, engine, ingest = desk
    review = ingest(GENUINE_1)
    with Session(engine) as s:
        workflow.approve(s, review, ANA, "confirmado")
        s.commit()
        [entry] = audit.entries(s)
        obj = audit.entry_json(entry)
    assert {k: obj[k] for k in ("invoice_id", "action", "actor", "role", "source", "reason")} == {
        "invoice_id": review, "action": "approve", "actor": "ana", "role": "approver",
        "source": "192.0.2.10", "reason": "confirmado"}
    assert (obj["before"]["state"], obj["after"]["state"]) == ("open", "approved")
    for sql in ("UPDATE audit_log SET reason = 'outro motivo'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    with Session(engine) as s:
        assert [e.reason for e in audit.entries(s)] == ["confirmado"]


def test_recheck_judges_stored_bills_again_with_the_current_configuration(desk, tmp_path):
    config, engine, ingest = desk
    first, second = ingest(GENUINE_1), ingest(GENUINE_2)
    configured = config_mod.from_dict({"database": {"url": config.database_url},
                                       "storage": {"blobs": str(config.blob_dir)},
                                       "company": {"cnpjs": ["12345678000195"]},
                                       "vendors": {"serpro": {"banks": ["001"]}},
                                       "authenticity": {"signature_cas": [str(TEST_CAS)]}},
                                      tmp_path)
    with Session(engine) as s:
        assert workflow.recheck(s, config, [first], ANA) == [(first, "review", "review")]
        s.commit()
        assert audit.entries(s) == []  # nothing changed: nothing to record
        assert workflow.recheck(s, configured, None, ANA) == [
            (first, "review", "ok"), (second, "review", "ok")]
        s.commit()
        entry = audit.entries(s, invoice_id=first)[0]
    assert entry.action == "recheck"
    assert json.loads(entry.before) == {"verdict": "review",
                                        "checks": {"boleto.bank_allowed": "unknown"}}
    assert json.loads(entry.after) == {"verdict": "ok", "checks": {"boleto.bank_allowed": "pass"}}
    assert _bank_check(engine, first) == "pass"


def test_users_and_tokens_are_stored_hashed_and_checked(desk):
    _config, engine, _ingest = desk
    with Session(engine) as s:
        users.add_user(s, "ana", "approver", "uma senha comprida", actor=ROOT)
        token = users.add_token(s, "planilha", Role.VIEWER, actor=ROOT)
        s.commit()
        stored = s.exec(select(User)).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert "uma senha comprida" not in stored.password_hash
        assert s.exec(select(ApiToken)).one().token_hash == hashlib.sha256(
            token.encode()).hexdigest()
        assert users.authenticate(s, "ana", "uma senha comprida", source="192.0.2.5") == Actor(
            "ana", Role.APPROVER, "192.0.2.5")
        assert users.authenticate(s, "ana", "uma senha errada") is None
        assert users.authenticate(s, "ninguem", "uma senha comprida") is None
        assert users.token_actor(s, token) == Actor("token:planilha", Role.VIEWER, "api")
        assert users.token_actor(s, token + "x") is None
        for bad in (lambda: users.add_user(s, "ana", "viewer", "outra senha longa"),
                    lambda: users.add_user(s, "bia", "viewer", "curta"),
                    lambda: users.add_user(s, "bia", "chefe", "uma senha comprida"),
                    lambda: users.add_user(s, "<script>", "viewer", "uma senha comprida"),
                    lambda: users.add_user(s, "bia", "viewer", "uma senha comprida",
                                           actor=ANA)):
            with pytest.raises(Exception) as caught:
                bad()
            assert caught.value.code in ("name_taken", "weak_password", "bad_role", "bad_name",
                                         "not_allowed")
        s.rollback()
        users.set_disabled(s, "ana", True, actor=ROOT)
        assert users.revoke_token(s, "planilha", actor=ROOT) == 1
        s.commit()
        assert users.authenticate(s, "ana", "uma senha comprida") is None
        assert users.token_actor(s, token) is None
        actions = [e.action for e in audit.entries(s)]
    assert actions == ["token.revoke", "user.disable", "token.add", "user.add"]


def test_learned_banks_are_unique_per_vendor(desk):
    _config, engine, ingest = desk
    first = ingest(GENUINE_1)
    with Session(engine) as s:
        s.add(LearnedBank(vendor="serpro", bank_code="001", invoice_id=first, learned_by="x"))
        s.commit()
        workflow.approve(s, first, ANA, "confirmado")  # already known: not learned twice
        s.commit()
        assert len(workflow.learned_banks(s)) == 1


def test_two_people_approving_at_once_take_turns(desk):
    import threading

    _config, engine, ingest = desk
    review = ingest(GENUINE_1)
    outcome: list[str] = []
    with Session(engine) as first:
        workflow.approve(first, review, ANA, "eu aprovo")  # holds the bill until commit

        def second_person() -> None:
            with Session(engine) as second:
                try:
                    workflow.approve(second, review, ROOT, "eu também")
                    second.commit()
                    outcome.append("approved")
                except WorkflowError as exc:
                    outcome.append(exc.code)
                except DatabaseError:  # SQLite: one writer at a time, the other is refused
                    outcome.append("busy")

        other = threading.Thread(target=second_person)
        other.start()
        other.join(timeout=1.0)
        first.commit()
        other.join(timeout=60)
    if engine.dialect.name == "postgresql":  # the row lock: the second waits, then sees it
        assert outcome == ["already_decided"]
    else:
        assert outcome in (["already_decided"], ["busy"])
    with Session(engine) as s:
        assert [e.actor for e in audit.entries(s)] == ["ana"]


def test_listing_pages_and_counts_agree(desk):
    _config, engine, ingest = desk
    ids = [ingest(p) for p in (GENUINE_2, FORGED, GENUINE_1)]
    from pipeline.desk.queries import count_bills

    with Session(engine) as s:
        full = list_bills(s)
        assert sorted(r.invoice.id for r in full) == sorted(ids)
        dues = [r.due_date for r in full]
        assert dues == sorted(dues)
        assert [r.invoice.id for r in list_bills(s, limit=2, offset=1)] == [
            r.invoice.id for r in full[1:3]]
        assert count_bills(s) == 3 and count_bills(s, verdict="block") == 1
        late = date(2027, 1, 1)
        assert count_bills(s, due="overdue", today=late) == 3
        assert list_bills(s, due="week", today=late) == []
        june, _forged, april = ids
        workflow.approve(s, june, ANA, "banco confirmado")  # april waited on the same bank
        workflow.mark_paid(s, june, ANA, date(2026, 5, 19))
        s.commit()
        assert s.get(Invoice, april).verdict == "ok"
        assert [r.invoice.id for r in list_bills(s, status="paid")] == [june]
        assert [r.invoice.id for r in list_bills(s, status="payable")] == [april]
        assert [r.invoice.id for r in list_bills(s, due="overdue", today=late)] == [
            r.invoice.id for r in full if r.invoice.id != june]  # paid: no longer due
        assert count_bills(s, status="payable") == len(list_bills(s, status="payable"))
