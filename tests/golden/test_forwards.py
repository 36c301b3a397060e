"""A bill a colleague forwards inline (Outlook's "ENC:", the original's headers quoted, the
documents re-attached) is read from its attachments and judged review, never block."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import DEMO_CONFIG, FIXTURES, json_lines, run_cli

GENUINE = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"


def inline_forward(tmp: Path, sender: str, *, subject_prefix: str = "ENC: ") -> Path:
    """What Outlook writes when a colleague forwards the vendor's email inline."""
    original = message_from_bytes(GENUINE.read_bytes(), policy=policy.default)
    body = original.get_body(preferencelist=("plain", "html")).get_content()
    fwd = EmailMessage()
    fwd["From"] = sender
    fwd["To"] = "financeiro@example.com.br"
    fwd["Subject"] = subject_prefix + str(original["Subject"])
    fwd["Date"] = "Tue, 07 Apr 2026 09:12:00 -0300"
    fwd["Message-ID"] = "<enc-1@example.com.br>"
    fwd.set_content("Segue a fatura do SERPRO.\n\n"
                    "________________________________\n"
                    f"De: {original['From']}\n"
                    f"Enviada em: {original['Date']}\n"
                    "Para: financeiro@example.com.br\n"
                    f"Assunto: {original['Subject']}\n\n" + body)
    for part in original.iter_attachments():
        fwd.add_attachment(part.get_payload(decode=True), maintype=part.get_content_maintype(),
                           subtype=part.get_content_subtype(), filename=part.get_filename())
    path = tmp / "encaminhada.eml"
    path.write_bytes(fwd.as_bytes())
    return path


@pytest.fixture
def cfg(tmp_path) -> Path:
    path = tmp_path / "confere.toml"
    path.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp_path / 'confere.db'}",
                                       blobs=tmp_path / "blobs"), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_colleagues_inline_forward_is_review_not_block(tmp_path, cfg):
    eml = inline_forward(tmp_path, "Maria Souza <maria@example.com.br>")
    [line] = json_lines(run_cli("ingest", "--json", "--config", str(cfg), str(eml)).stdout)
    inv = line["invoice"]
    assert line["status"] == "invoice" and inv["verdict"] == "review"
    checks = {c["name"]: c for c in inv["checks"]}
    assert checks["email.sender_allowed"]["outcome"] == "unknown"
    assert "forwarded inline by maria@example.com.br" in checks["email.sender_allowed"]["detail"]
    # Read from the re-attached documents: the bill's own checks all hold.
    for name in ("boleto.check_digits", "boleto.amount_matches_nfse", "nfse.signature",
                 "nfse.provider_matches_vendor"):
        assert checks[name]["outcome"] == "pass", checks[name]
    assert inv["nfse"]["number"] == "276033" and inv["boleto"]["amount"] == "10738.04"
    card = run_cli("show", "1", "--config", str(cfg)).stdout
    assert "revisar: encaminhada por maria@example.com.br, confira com o original" in card


@pytest.mark.slow
def test_an_inline_forward_from_outside_the_company_is_still_refused(tmp_path, cfg):
    eml = inline_forward(tmp_path, "Golpista <financeiro@serpro-gov.com>")
    [line] = json_lines(run_cli("ingest", "--json", "--config", str(cfg), str(eml)).stdout)
    assert line["invoice"]["verdict"] == "block"
