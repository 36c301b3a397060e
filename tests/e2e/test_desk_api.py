"""The desk's JSON API with bearer tokens: the same bills and decisions as the pages."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conftest import manifest
from harness.desk import TODAY, build_store

EMAILS = ("genuine-04-abrasf-reindented.eml", "tampered-pix-merchant.eml")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from pipeline.web.app import create_app

    store = build_store(tmp_path_factory.mktemp("desk-api"), EMAILS, with_script=False)
    app = create_app(store.config(), today=lambda: TODAY, secret="api-test-" + "k" * 40)
    client = TestClient(app)

    def call(role: str, method: str, url: str, **kw):
        return client.request(method, url, headers={
            "Authorization": f"Bearer {store.tokens[role]}"}, **kw)

    return call


def by_verdict(api) -> dict[str, dict]:
    items = api("viewer", "GET", "/api/v1/invoices").json()["items"]
    return {b["verdict"]: b for b in items}


@pytest.mark.slow
def test_list_and_one_bill(api):
    listed = api("viewer", "GET", "/api/v1/invoices").json()
    assert listed["total"] == 2 and sum(listed["counts"].values()) == 2
    review = by_verdict(api)["review"]
    facts = next(c for c in manifest() if c["file"].endswith(EMAILS[0]))["facts"]
    assert review["due_date"] == facts["due_date"] and review["due"] == "overdue"
    assert review["amount"] == facts["boleto"]["amount"]
    bill = api("viewer", "GET", f"/api/v1/invoices/{review['id']}").json()
    assert bill["verdict"] == "review" and bill["state"] == "open" and not bill["fit_to_pay"]
    assert {d["kind"] for d in bill["documents"]} >= {"boleto_pdf", "nfse_pdf", "nfse_xml"}
    assert [c["name"] for c in bill["checks"]]  # the contract's invoice object
    pdf = next(d for d in bill["documents"] if d["kind"] == "boleto_pdf")
    r = api("viewer", "GET", pdf["url"])
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")


def test_decisions_through_the_api(api):
    bills = by_verdict(api)
    review, block = bills["review"]["id"], bills["block"]["id"]
    r = api("viewer", "POST", f"/api/v1/invoices/{review}/approve", json={"reason": "x"})
    assert r.status_code == 403
    r = api("approver", "POST", f"/api/v1/invoices/{review}/approve", json={"reason": " "})
    assert r.status_code == 409 and r.json()["error"] == "reason_required"
    r = api("approver", "POST", f"/api/v1/invoices/{review}/approve",
            json={"reason": "banco confirmado"})
    assert r.status_code == 200
    assert r.json()["state"] == "approved" and r.json()["fit_to_pay"] is True
    assert r.json()["history"][0]["action"] == "approve"
    r = api("approver", "POST", f"/api/v1/invoices/{review}/approve", json={"reason": "de novo"})
    assert r.status_code == 409 and r.json()["error"] == "already_decided"
    r = api("approver", "POST", f"/api/v1/invoices/{review}/pay", json={"paid_on": "2026-11-16"})
    assert r.status_code == 200 and r.json()["paid_at"].startswith("2026-11-16")
    assert review not in [b["id"] for b in api("viewer", "GET", "/api/v1/invoices").json()
                          ["items"]]
    # A blocked bill: approving is refused; only an admin overrides, and only confirmed.
    r = api("approver", "POST", f"/api/v1/invoices/{block}/approve", json={"reason": "x"})
    assert r.status_code == 409 and r.json()["error"] == "blocked"
    r = api("approver", "POST", f"/api/v1/invoices/{block}/override",
            json={"reason": "x", "confirm": True})
    assert r.status_code == 403
    r = api("admin", "POST", f"/api/v1/invoices/{block}/override", json={"reason": "x"})
    assert r.status_code == 422
    r = api("admin", "POST", f"/api/v1/invoices/{block}/override",
            json={"reason": "recebedor confirmado por telefone", "confirm": True})
    assert r.status_code == 200 and r.json()["state"] == "overridden"
    audit = api("viewer", "GET", "/api/v1/audit").json()
    assert [e["action"] for e in audit[:3]] == ["override", "pay", "approve"]
    assert audit[0]["actor"] == "token:admin-script" and audit[0]["role"] == "admin"


def test_the_schema_documents_the_api(api):
    schema = api("viewer", "GET", "/api/v1/openapi.json").json()
    assert {"/api/v1/invoices", "/api/v1/invoices/{invoice_id}/approve",
            "/api/v1/audit"} <= set(schema["paths"])
    assert not any(p.startswith("/faturas") for p in schema["paths"])  # pages are not API
