"""The finance desk in a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from harness.desk import PASSWORD, SCRIPT_FILENAME, SCRIPT_SUBJECT, DeskServer, build_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    store = build_store(tmp_path_factory.mktemp("desk"))
    with DeskServer(store) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def bills(desk, **params) -> list[dict]:
    """The bills as the API lists them (to find the ids the pages link to)."""
    r = httpx.get(f"{desk.url}/api/v1/invoices", params=params,
                  headers={"Authorization": f"Bearer {desk.store.tokens['viewer']}"})
    assert r.status_code == 200
    return r.json()["items"]


def bill_due(desk, day: str) -> int:
    return next(b["id"] for b in bills(desk) if b["due_date"] == day)


def login(browser, desk, role: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    page = context.new_page()
    page.goto(f"{desk.url}/a-pagar")
    assert "/login" in page.url  # not logged in: sent to the login form
    page.fill("input[name=name]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{desk.url}/a-pagar")
    return context, page


def test_login_shows_this_weeks_bills(browser, desk):
    context, page = login(browser, desk, "approver")
    week = page.locator("tr.group.b-week + tr.bill")
    assert week.count() == 1
    row = week.first.inner_text()
    assert "20/11/2026" in row  # the sample's November bill, due on Friday of this week
    assert re.search(r"R\$ \d{1,3}(\.\d{3})*,\d{2}", row)
    assert page.locator("tr.group.b-overdue").count() == 1
    assert "Vencem nos próximos 7 dias" in page.inner_text("ul.buckets")
    page.screenshot(path=str(ROOT / "docs" / "desk.png"), full_page=False)
    context.close()


def test_login_with_a_wrong_password_is_refused(browser, desk):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{desk.url}/login")
    page.fill("input[name=name]", "viewer")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Usuário ou senha incorretos" in page.inner_text("p.error")
    page.goto(f"{desk.url}/a-pagar")
    assert "/login" in page.url
    context.close()


def test_open_a_bill_and_its_boleto_pdf(browser, desk):
    context, page = login(browser, desk, "viewer")
    page.click("tr.group.b-week + tr.bill a")
    assert re.search(r"/faturas/\d+$", page.url)
    assert page.inner_text("#veredito .word").strip().lower() == "revisar"
    assert "banco" in page.inner_text("#veredito").lower()  # why: the bank is not trusted yet
    frame = page.locator("iframe[title='Boleto em PDF']")
    assert frame.count() == 1
    link = page.locator("a", has_text=re.compile(r"^boleto_.*\.pdf$"))
    response = page.request.get(desk.url + link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("inline")
    assert response.body().startswith(b"%PDF-")
    issuer = page.locator("a", has_text="verificar a autenticidade da nota")
    assert issuer.get_attribute("href").startswith("https://df.issnetonline.com.br/")
    assert "Não verificado" in page.inner_text("#conferencias")
    # Not fit to pay yet: no payment data on the page.
    assert page.locator("#linha").count() == 0
    assert "ocultos" in page.inner_text("#pagamento")
    context.close()


def test_approve_a_review_bill_and_find_it_in_the_audit(browser, desk):
    bill_id = bill_due(desk, "2026-11-20")
    context, page = login(browser, desk, "approver")
    page.goto(f"{desk.url}/faturas/{bill_id}")
    reason = "Banco 001 confirmado com o SERPRO por telefone"
    page.fill("form.a-approve input[name=reason]", reason)
    page.click("form.a-approve button")
    page.wait_for_url(f"{desk.url}/faturas/{bill_id}")
    assert page.inner_text("p.flash") == "Fatura aprovada."
    state = page.inner_text("#veredito .state")
    assert "aprovada por approver" in state and reason in state
    # Approved: fit to pay, so the formatted line and the Pix code are offered to copy.
    line = page.input_value("#linha")
    assert re.fullmatch(r"\d{5}\.\d{5} \d{5}\.\d{6} \d{5}\.\d{6} \d \d{14}", line)
    # The copy button (desk.js, the only script, allowed by the CSP) puts the line on the
    # clipboard.
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=desk.url)
    page.click("button.copy[data-copy=linha]")
    page.wait_for_function("() => document.querySelector('button.copy').textContent"
                           " === 'Copiado'")
    assert page.evaluate("navigator.clipboard.readText()") == line
    assert reason in page.inner_text("#historico")
    page.screenshot(path=str(ROOT / "docs" / "desk-bill.png"), full_page=False)
    # The bank is learned: the other bills from it that waited only on it are fine now.
    october = next(b for b in bills(desk) if b["due_date"] == "2026-10-20")
    assert october["verdict"] == "ok"
    page.click("nav >> text=Auditoria")
    row = page.locator("table.audit tbody tr").first.inner_text()
    assert "approver" in row and "aprovou" in row and reason in row and f"nº {bill_id}" in row
    assert re.match(r"\d\d/\d\d/\d{4} \d\d:\d\d", row)
    context.close()


def test_pay_an_approved_bill_with_a_proof(browser, desk):
    bill_id = bill_due(desk, "2026-11-20")  # approved by the test above
    context, page = login(browser, desk, "approver")
    page.goto(f"{desk.url}/faturas/{bill_id}")
    assert page.input_value("form.a-pay input[name=paid_on]") == "2026-11-17"
    proof = b"%PDF-1.4\n% comprovante de teste\n"
    page.set_input_files("form.a-pay input[name=proof]",
                         files=[{"name": "comprovante.pdf", "mimeType": "application/pdf",
                                 "buffer": proof}])
    page.click("form.a-pay button")
    page.wait_for_url(f"{desk.url}/faturas/{bill_id}")
    assert page.inner_text("p.flash") == "Pagamento registrado."
    assert "paga em 17/11/2026" in page.inner_text("section.facts")
    assert page.locator("#linha").count() == 0  # paid: nothing more to pay
    link = page.locator("a", has_text="comprovante de pagamento")
    response = page.request.get(desk.url + link.get_attribute("href"))
    assert response.body() == proof
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-type"] == "application/pdf"
    assert bill_id not in [b["id"] for b in bills(desk)]  # off the list of bills to pay
    assert bill_id in [b["id"] for b in bills(desk, paid="true")]
    context.close()


def test_a_viewer_cannot_approve(browser, desk):
    bill_id = bill_due(desk, "2026-10-20")
    context, page = login(browser, desk, "viewer")
    page.goto(f"{desk.url}/faturas/{bill_id}")
    assert page.locator("form.a-approve").count() == 0
    assert "só permite consultar" in page.inner_text("#decisoes")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    response = page.request.post(f"{desk.url}/faturas/{bill_id}/aprovar",
                                 form={"csrf": csrf, "reason": "eu mesmo"}, max_redirects=0)
    assert response.status == 403
    page.reload()
    assert "em aberto" in page.inner_text("#veredito .state")
    context.close()


def test_script_in_subject_and_file_name_is_shown_as_text(browser, desk):
    bill_id = bill_due(desk, "2026-04-20")
    context, page = login(browser, desk, "admin")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(f"{desk.url}/faturas/{bill_id}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.inner_text("dd.subject") == SCRIPT_SUBJECT
    assert page.locator("a", has_text=SCRIPT_FILENAME).count() == 1
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main script, main img[src=x]").count() == 0
    assert dialogs == []
    context.close()


def test_the_other_pages(browser, desk):
    context, page = login(browser, desk, "viewer")
    page.click("nav >> text=Quarentena")
    row = page.locator("table tbody tr").first.inner_text()
    assert "XML declares a DTD or entities" in row
    assert page.locator("a", has_text="e-mail original").count() == 1
    page.click("nav >> text=Custos")
    assert page.inner_text("h1") == "Custos de 2026"
    page.wait_for_function("() => { const img = document.querySelector('figure.chart img');"
                           " return img.complete && img.naturalWidth > 0; }", timeout=10000)
    assert "R$" in page.inner_text("main table")
    page.click("nav >> text=Alertas")
    kinds = page.locator("table tbody tr td:nth-child(2)").all_inner_texts()
    assert "review" in kinds and "a enviar" in page.inner_text("main table")
    page.click("nav >> text=Caixas de e-mail")
    assert "Nenhuma caixa de e-mail configurada" in page.inner_text("main")
    page.goto(f"{desk.url}/api/docs")
    assert "GET /api/v1/invoices" in page.inner_text("main")
    context.close()


def test_filters_on_a_pagar(browser, desk):
    context, page = login(browser, desk, "viewer")
    page.select_option("select[name=veredito]", "block")
    page.click("form.filters button")
    verdicts = page.locator("tr.bill td:nth-child(7)").all_inner_texts()
    assert verdicts and set(verdicts) == {"NÃO PAGAR"}
    page.goto(f"{desk.url}/a-pagar?vencimento=overdue")
    groups = page.locator("tr.group").all_inner_texts()
    assert groups == ["Vencidas"]
    dues = page.locator("tr.bill td:first-child").all_inner_texts()
    assert all(d.split("/")[::-1] < ["2026", "11", "17"] for d in dues)
    page.goto(f"{desk.url}/a-pagar?pagas=1")
    assert page.inner_text("h1") == "Pagas"
    context.close()
