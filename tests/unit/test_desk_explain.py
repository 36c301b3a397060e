"""The verdict's reason in pt-BR, as the card and the desk's banner say it."""

from __future__ import annotations

from datetime import date

from pipeline.desk.explain import days_words, ordered, verdict_reason


def check(name: str, outcome: str, detail: str = "d") -> dict:
    return {"name": name, "outcome": outcome, "detail": detail}


def test_block_names_the_forgery_grade_failure_first():
    checks = [check("email.contract_known", "fail", "contract 9 is not configured"),
              check("boleto.check_digits", "fail", "field 1: digit 3, expected 7"),
              check("pix.crc", "pass")]
    assert verdict_reason("block", checks) == (
        "sinal de fraude: dígitos verificadores da linha digitável conferem — falhou "
        "(e mais 1 falha(s))")


def test_review_for_an_unseen_bank_says_what_to_do():
    checks = [check("boleto.bank_allowed", "unknown", "bank 341 was never seen for SERPRO and "
                    "no banks are configured: confirm it, then add it to vendors.serpro.banks"),
              check("email.contract_known", "skipped")]
    reason = verdict_reason("review", checks)
    assert reason.startswith("o banco 341 nunca apareceu numa fatura aceita deste fornecedor")
    assert "aprove" in reason


def test_review_names_a_plain_failure_before_open_questions():
    checks = [check("boleto.bank_allowed", "unknown", "bank 341 was never seen"),
              check("boleto.due_date_matches_email", "fail", "boleto 21/04/2026, email 20/04")]
    assert verdict_reason("review", checks) == (
        "vencimento do boleto = vencimento do e-mail — falhou")


def test_ok_says_how_much_was_not_checked():
    assert verdict_reason("ok", [check("pix.crc", "pass")]) == (
        "todas as verificações aplicáveis conferem")
    assert verdict_reason("ok", [check("pix.crc", "pass"), check("authenticity.issnet",
                                                                  "skipped")]).endswith(
        "; 1 não se aplica(m) ou não está(ão) configurada(s)")


def test_checks_are_ordered_failed_first():
    checks = [check("pix.crc", "pass"), check("email.authentication", "skipped"),
              check("nfse.signature", "unknown"), check("boleto.amount_matches_nfse", "fail")]
    assert [c.outcome for c in ordered(checks)] == ["fail", "unknown", "pass", "skipped"]


def test_due_dates_in_words():
    today = date(2026, 4, 18)
    assert [days_words(date(2026, 4, d), today) for d in (18, 19, 25, 17, 10)] == [
        "vence hoje", "vence amanhã", "vence em 7 dias", "venceu ontem", "vencida há 8 dias"]
    assert days_words(None, today) == "sem vencimento"
