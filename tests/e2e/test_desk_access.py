"""Who may reach what on the desk: every route walked for each role and for no login; CSRF,
throttling, expiry, and how documents are served."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from harness.desk import PASSWORD, ROLES, SCRIPT_FILENAME, TEST_CAS, TODAY, build_store

# The policy, written out here and not read from the code: the least role each route needs.
# "public" routes need no login. A route missing from this table fails the walk.
READ, APPROVER, ADMIN, PUBLIC = "viewer", "approver", "admin", "public"
POLICY: dict[tuple[str, str], str] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): READ,
    ("GET", "/"): READ,
    ("GET", "/a-pagar"): READ,
    ("GET", "/faturas/{invoice_id}"): READ,
    ("GET", "/faturas/{invoice_id}/documentos/{document_id}"): READ,
    ("GET", "/mensagens/{message_id}/original"): READ,
    ("GET", "/faturas/{invoice_id}/arquivos/{number}"): READ,
    ("POST", "/faturas/{invoice_id}/aprovar"): APPROVER,
    ("POST", "/faturas/{invoice_id}/rejeitar"): APPROVER,
    ("POST", "/faturas/{invoice_id}/pagar"): APPROVER,
    ("POST", "/faturas/{invoice_id}/desfazer"): APPROVER,
    ("POST", "/faturas/{invoice_id}/reverificar"): APPROVER,
    ("POST", "/faturas/{invoice_id}/liberar"): ADMIN,
    ("GET", "/quarentena"): READ,
    ("POST", "/quarentena/{message_id}/reprocessar"): APPROVER,
    ("GET", "/custos"): READ,
    ("GET", "/custos/grafico.svg"): READ,
    ("GET", "/caixas"): READ,
    ("GET", "/alertas"): READ,
    ("GET", "/auditoria"): READ,
    ("GET", "/api/docs"): READ,
    ("GET", "/api/v1/openapi.json"): READ,
    ("GET", "/api/v1/invoices"): READ,
    ("GET", "/api/v1/invoices/{invoice_id}"): READ,
    ("GET", "/api/v1/invoices/{invoice_id}/documents/{document_id}"): READ,
    ("POST", "/api/v1/invoices/{invoice_id}/approve"): APPROVER,
    ("POST", "/api/v1/invoices/{invoice_id}/reject"): APPROVER,
    ("POST", "/api/v1/invoices/{invoice_id}/pay"): APPROVER,
    ("POST", "/api/v1/invoices/{invoice_id}/undo"): APPROVER,
    ("POST", "/api/v1/invoices/{invoice_id}/recheck"): APPROVER,
    ("POST", "/api/v1/invoices/{invoice_id}/override"): ADMIN,
    ("GET", "/api/v1/quarantine"): READ,
    ("POST", "/api/v1/quarantine/{message_id}/retry"): APPROVER,
    ("GET", "/api/v1/mailboxes"): READ,
    ("GET", "/api/v1/alerts"): READ,
    ("GET", "/api/v1/audit"): READ,
    ("GET", "/api/v1/costs"): READ,
}
RANK = {READ: 0, APPROVER: 1, ADMIN: 2}
EMAILS = ("genuine-04-abrasf-reindented.eml", "tampered-bank.eml", "hostile-xxe.eml")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("desk-access"), EMAILS)


def make_app(store, **web):
    from pipeline.config.settings import from_dict, load
    from pipeline.web.app import create_app

    config = load(store.config_path)
    if web:
        data = config.settings.model_dump(exclude_defaults=True)
        data["web"] = web
        config = from_dict(data, config.base_dir)
    return create_app(config, today=lambda: TODAY, secret="access-test-" + "k" * 40)


@pytest.fixture(scope="module")
def app(store):
    return make_app(store)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def logged_in(app, role: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"name": role, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/a-pagar"
    return client, csrf_of(client.get("/a-pagar").text)


def ids(store) -> dict[str, int]:
    from storage import Document, Invoice, open_store

    engine = open_store(store.config().database_url)
    with Session(engine) as s:
        inv = s.exec(select(Invoice).order_by(Invoice.id)).first()
        doc = s.exec(select(Document).where(Document.message_id == inv.message_id)).first()
        out = {"invoice_id": inv.id, "document_id": doc.id, "message_id": inv.message_id,
               "number": 0}
    engine.dispose()
    return out


def _flat(items) -> list:
    # FastAPI >= 0.16x keeps an included router as one entry; older ones copy its routes.
    out = []
    for route in items:
        inner = getattr(route, "original_router", None)
        out += _flat(inner.routes) if inner is not None else [route]
    return out


def routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, read from the app itself."""
    found = []
    for route in _flat(app.routes):
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
            continue
        assert isinstance(route, APIRoute | Route)
        found += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


@pytest.mark.slow
def test_every_route_is_in_the_policy(app):
    found = set(routes(app))
    assert found - set(POLICY) == set(), "a new route: add it to POLICY with its least role"
    assert set(POLICY) - found == set(), "POLICY names a route that no longer exists"


@pytest.mark.parametrize("who", [None, *ROLES])
def test_walk_every_route(app, store, who):
    values = ids(store)
    if who:
        page_client, csrf = logged_in(app, who)
    else:
        page_client = TestClient(app, follow_redirects=False)
        csrf = csrf_of(page_client.get("/login").text)
    api_client = TestClient(app, follow_redirects=False)
    headers = {"Authorization": f"Bearer {store.tokens[who]}"} if who else {}
    for method, path in routes(app):
        url = path.format(**values)
        need = POLICY[(method, path)]
        api = path.startswith("/api/v1/")
        client = api_client if api else page_client
        if api:
            r = client.request(method, url, headers=headers,
                               json={"reason": "teste", "confirm": True})
        elif method == "POST":
            r = client.post(url, data={"csrf": csrf, "reason": "teste", "name": "x",
                                       "password": "y", "paid_on": "2026-11-17"})
        else:
            r = client.get(url)
        where = f"{who or 'no login'}: {method} {path} -> {r.status_code}"
        assert r.status_code < 500, where
        if need == PUBLIC:  # the login form (a wrong password is 401, which is its answer)
            assert r.status_code in (200, 303, 401), where
        elif who is None:
            if api:
                assert r.status_code == 401, where
            else:
                assert r.status_code == 303 and r.headers["location"].startswith("/login"), where
        elif RANK[who] < RANK[need]:
            assert r.status_code == 403, where
        else:
            assert r.status_code not in (401, 403), where
            if path != "/logout":  # which says goodbye by showing the login form
                assert not r.headers.get("location", "").startswith("/login"), where
        if path == "/logout" and who:  # logging out ends the walk's session: log in again
            page_client, csrf = logged_in(app, who)


def test_a_post_without_the_csrf_token_is_refused(app, store):
    from storage import Invoice, open_store

    client, csrf = logged_in(app, "admin")
    bill = ids(store)["invoice_id"]
    for data in ({"reason": "sem token"}, {"reason": "token errado", "csrf": csrf[::-1]}):
        r = client.post(f"/faturas/{bill}/rejeitar", data=data)
        assert r.status_code == 403
        assert "Formulário expirado" in r.text
    r = client.post(f"/faturas/{bill}/rejeitar", headers={"X-CSRF-Token": "nope"},
                    data={"reason": "x"})
    assert r.status_code == 403
    r = client.post("/api/v1/invoices/1/reject", json={"reason": "cookie sem token"})
    assert r.status_code == 403  # the API with a session cookie needs the header too
    engine = open_store(store.config().database_url)
    with Session(engine) as s:
        from storage import InvoiceDecision

        assert s.exec(select(InvoiceDecision).where(
            InvoiceDecision.invoice_id == bill, InvoiceDecision.decision == "rejected")).first() \
            is None
        assert s.get(Invoice, bill) is not None
    engine.dispose()
    anonymous = TestClient(app, follow_redirects=False)
    r = anonymous.post("/login", data={"name": "admin", "password": PASSWORD})
    assert r.status_code == 403  # the login form has its token too


def test_login_is_throttled_per_name(store):
    app = make_app(store)
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        r = client.post("/login", data={"name": "viewer", "password": "wrong", "csrf": token})
        assert r.status_code == 401
    r = client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429 and "Muitas tentativas" in r.text
    # Another name from the same address still gets in (the per-address limit is higher).
    r = client.post("/login", data={"name": "approver", "password": PASSWORD, "csrf": token})
    assert r.status_code == 303


@pytest.mark.slow
def test_login_is_throttled_per_address(store):
    client = TestClient(make_app(store), follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    for i in range(20):  # a password sprayed over many names
        r = client.post("/login", data={"name": f"user{i}", "password": "x", "csrf": token})
        assert r.status_code == 401
    r = client.post("/login", data={"name": "admin", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429


def test_a_session_expires_and_logout_ends_it(store, monkeypatch):
    from pipeline.web import security

    app = make_app(store, session_max_age="1h")
    client, _ = logged_in(app, "viewer")
    assert client.get("/a-pagar").status_code == 200
    later = time.time() + 3600 - 5  # still inside the hour: the session holds
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert client.get("/a-pagar").status_code == 200
    later += 10  # past the hour: the next request is sent to log in
    r = client.get("/a-pagar")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    monkeypatch.undo()
    app = make_app(store)
    client, csrf = logged_in(app, "viewer")
    cookie = client.cookies.get("confere_session")
    r = client.post("/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert client.get("/a-pagar").status_code == 303
    replay = TestClient(app, follow_redirects=False, cookies={"confere_session": cookie})
    r = replay.get("/a-pagar")  # a copy of the cookie taken before logout is dead too
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_session_cookie_flags(store):
    client = TestClient(make_app(store), follow_redirects=False)
    cookie = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    secure_app = make_app(store, base_url="https://confere.example.com.br")
    response = TestClient(secure_app).get("/login")
    assert "secure" in response.headers["set-cookie"].lower()
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_no_open_redirect_after_login(app):
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf": token,
                                    "next": "//evil.example/x"})
    assert r.headers["location"] == "/a-pagar"


def test_bad_and_missing_tokens_get_401(app):
    client = TestClient(app)
    assert client.get("/api/v1/invoices").status_code == 401
    r = client.get("/api/v1/invoices", headers={"Authorization": "Bearer cf_not-a-real-token"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_documents_are_served_with_their_real_type(app, store):
    from storage import Document, Invoice, open_store

    client, _ = logged_in(app, "viewer")
    engine = open_store(store.config().database_url)
    with Session(engine) as s:
        docs = s.exec(select(Document, Invoice).join(
            Invoice, Invoice.message_id == Document.message_id)).all()
    engine.dispose()
    kinds = set()
    for doc, inv in docs:
        r = client.get(f"/faturas/{inv.id}/documentos/{doc.id}")
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        disposition = r.headers["content-disposition"]
        kinds.add(doc.kind)
        if doc.kind in ("boleto_pdf", "nfse_pdf"):
            assert r.headers["content-type"] == "application/pdf"
            assert disposition.startswith("inline;") and r.content.startswith(b"%PDF-")
        else:
            assert disposition.startswith("attachment;")
            assert "html" not in r.headers["content-type"]
            if doc.kind == "nfse_xml":
                assert r.headers["content-type"].startswith("application/xml")
    assert {"boleto_pdf", "nfse_pdf", "nfse_xml", "other"} <= kinds  # genuine-04 has a logo
    r = client.get(f"/mensagens/{ids(store)['message_id']}/original")
    assert r.headers["content-type"] == "message/rfc822"
    assert r.headers["content-disposition"].startswith("attachment;")
    # Another bill's document is not reachable through this bill's URL.
    (_doc_a, inv_a), (doc_b, inv_b) = docs[0], docs[-1]
    assert inv_a.id != inv_b.id
    assert client.get(f"/faturas/{inv_a.id}/documentos/{doc_b.id}").status_code == 404


def test_a_hostile_file_name_cannot_break_the_header(tmp_path):
    from pipeline.web.documents import disposition

    value = disposition("attachment", SCRIPT_FILENAME + '"\r\nX-Evil: 1')
    assert "\r" not in value and "\n" not in value
    fallback = re.search(r'filename="([^"]*)"', value).group(1)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", fallback)


def test_a_quarantined_message_can_be_read_again(app, store):
    from pipeline.vocabulary import MessageStatus
    from storage import Message, open_store

    engine = open_store(store.config().database_url)
    with Session(engine) as s:
        quarantined = s.exec(select(Message).where(
            Message.status == MessageStatus.QUARANTINED)).first()
    viewer, csrf = logged_in(app, "viewer")
    assert "Ler de novo" not in viewer.get("/quarentena").text
    assert viewer.post(f"/quarentena/{quarantined.id}/reprocessar",
                       data={"csrf": csrf}).status_code == 403
    client, csrf = logged_in(app, "approver")
    assert "Ler de novo" in client.get("/quarentena").text
    r = client.post(f"/quarentena/{quarantined.id}/reprocessar", data={"csrf": csrf})
    assert r.status_code == 303
    assert "devolvida à fila" in client.get("/quarentena").text
    with Session(engine) as s:
        assert s.get(Message, quarantined.id).status == MessageStatus.PENDING
    audit = client.get("/api/v1/audit", headers={
        "Authorization": f"Bearer {store.tokens['viewer']}"}).json()
    assert audit[0]["action"] == "retry" and audit[0]["after"]["message"] == quarantined.id
    engine.dispose()


@pytest.mark.slow
def test_mailbox_page_shows_the_poll_state(tmp_path):
    import shutil

    from conftest import run_cli
    from harness.desk import CONFIG, MAILBOX

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(MAILBOX / "genuine-02-abrasf-namespaced.eml", inbox)
    shutil.copy(MAILBOX / "hostile-xxe.eml", inbox)
    config = tmp_path / "confere.toml"
    config.write_text(CONFIG.format(db=tmp_path / "c.db", blobs=tmp_path / "blobs",
                                     test_cas=TEST_CAS.as_posix())
                      + f'[[mailboxes]]\nname = "financeiro"\npath = "{inbox}"\n',
                      encoding="utf-8")
    from pipeline.config.settings import load
    from pipeline.web.app import create_app

    app = create_app(load(config), today=lambda: TODAY, secret="k" * 40)
    from pipeline.desk.users import add_user
    from storage import open_store

    engine = open_store(load(config).database_url)
    with Session(engine) as s:
        add_user(s, "viewer", "viewer", PASSWORD)
        s.commit()
    engine.dispose()
    client, _ = logged_in(app, "viewer")
    before = client.get("/caixas").text
    assert "financeiro" in before and "nunca" in before
    run_cli("poll", "--config", str(config), check=False)
    after = client.get("/caixas")
    row = re.search(r"<tr[^>]*><td>financeiro</td>.*?</tr>", after.text, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", cells[2])  # polled now, pt-BR time
    assert cells[4].strip() == "2"  # both emails stored
    quarantine = client.get("/quarentena").text
    assert "XML declares a DTD or entities" in quarantine


def test_a_disabled_user_is_out_at_once_and_a_new_role_applies_at_once(store):
    from pipeline.desk.users import add_user, set_disabled
    from storage import User, open_store

    app = make_app(store)
    engine = open_store(store.config().database_url)
    with Session(engine) as s:
        add_user(s, "carla", "viewer", PASSWORD)
        s.commit()
    client, csrf = logged_in(app, "carla")
    bill = ids(store)["invoice_id"]
    assert client.post(f"/faturas/{bill}/reverificar", data={"csrf": csrf}).status_code == 403
    with Session(engine) as s:
        user = s.exec(select(User).where(User.name == "carla")).one()
        user.role = "approver"
        s.add(user)
        s.commit()
    assert client.post(f"/faturas/{bill}/reverificar", data={"csrf": csrf}).status_code == 303
    with Session(engine) as s:
        set_disabled(s, "carla", True)
        s.commit()
    r = client.get("/a-pagar")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    engine.dispose()
