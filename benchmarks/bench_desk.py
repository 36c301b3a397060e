"""The desk's bill list with 10,000 bills: the "A pagar" page and /api/v1/invoices under 50 ms.

Run: python -m benchmarks.bench_desk [--bills N]   (wall-clock over loopback HTTP, median and
95th percentile of 40 requests each, after 5 warm-up requests)

Bills, boletos, checks and some decisions are written straight into a throwaway SQLite store;
the desk is served by uvicorn on a free loopback port, as `confere web` serves it, and asked by
one keep-alive httpx client (a person's browser, a script with a token).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pipeline.config.settings import from_dict  # noqa: E402
from storage import (  # noqa: E402
    BoletoRow,
    CheckRow,
    Invoice,
    InvoiceDecision,
    Message,
    open_store,
    utcnow,
)

from harness.desk import DeskServer, DeskStore  # noqa: E402

BUDGET_MS = 50.0
REQUESTS = 40
TODAY = date(2026, 11, 17)
PASSWORD = "bench-password-123"


def seed(engine, n: int) -> None:
    """n bills due around today (a third overdue), each with a boleto and two checks."""
    rng = random.Random(15)
    now = utcnow()
    messages, invoices, boletos, checks, decisions = [], [], [], [], []
    for i in range(1, n + 1):
        messages.append({"id": i, "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                         "source": "file", "size": 1000, "status": "invoice",
                         "subject": f"Fatura {i}", "from_address": "faturamento@serpro.gov.br",
                         "received_at": now})
        due = TODAY + timedelta(days=rng.randint(-120, 240))
        verdict = rng.choice(("ok", "ok", "ok", "review", "block"))
        invoices.append({"id": i, "message_id": i, "vendor": "serpro",
                         "contract_number": str(261000 + i % 7),
                         "reference_month": f"{due.year}-{due.month:02d}", "due_date": due,
                         "nfse_number": str(100000 + i), "verdict": verdict,
                         "net_cents": rng.randint(10_000, 3_000_000), "created_at": now,
                         "paid_at": now if i % 4 == 0 else None})
        boletos.append({"invoice_id": i, "barcode": "0" * 44, "bank_code": "001",
                        "due_date": due, "amount_cents": invoices[-1]["net_cents"],
                        "barcode_read": True})
        checks += [{"invoice_id": i, "name": "boleto.check_digits", "outcome": "pass",
                    "detail": "ok", "checked_at": now},
                   {"invoice_id": i, "name": "boleto.bank_allowed",
                    "outcome": "pass" if verdict == "ok" else "fail", "detail": "-",
                    "checked_at": now}]
        if verdict == "review" and i % 3 == 0:
            decisions.append({"invoice_id": i, "decision": "approved", "decided_by": "bench",
                              "decided_at": now, "updated_at": now})
    with engine.begin() as conn:
        for model, rows in ((Message, messages), (Invoice, invoices), (BoletoRow, boletos),
                            (CheckRow, checks), (InvoiceDecision, decisions)):
            conn.execute(model.__table__.insert(), rows)


def timed(client: httpx.Client, url: str, **kw) -> tuple[float, float]:
    """Median and p95 milliseconds of REQUESTS GETs (after a warm-up)."""
    for _ in range(5):
        assert client.get(url, **kw).status_code == 200
    times = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        r = client.get(url, **kw)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bills", type=int, default=10_000)
    args = parser.parse_args()
    from sqlmodel import Session

    from pipeline.desk.users import add_token, add_user

    with tempfile.TemporaryDirectory(prefix="confere-bench-desk-") as tmp:
        root = Path(tmp)
        config_path = root / "confere.toml"
        config_path.write_text(f'[database]\nurl = "sqlite:///{root / "confere.db"}"\n'
                               f'[storage]\nblobs = "{root / "blobs"}"\n', encoding="utf-8")
        config = from_dict({"database": {"url": f"sqlite:///{root / 'confere.db'}"}}, root)
        engine = open_store(config.database_url)
        t0 = time.perf_counter()
        seed(engine, args.bills)
        with Session(engine) as s:
            add_user(s, "bench", "viewer", PASSWORD)
            token = add_token(s, "bench", "viewer")
            s.commit()
        engine.dispose()
        print(f"seeded {args.bills} bills in {time.perf_counter() - t0:.1f} s")
        store = DeskStore(root, config_path)
        with DeskServer(store, today=TODAY) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            page = client.get("/login")
            csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = client.post("/login", data={"name": "bench", "password": PASSWORD,
                                            "csrf": csrf})
            assert r.status_code == 303, r.status_code
            bearer = {"Authorization": f"Bearer {token}"}
            cases = [
                ("A pagar (first page)", "/a-pagar", {}),
                ("A pagar, next 7 days", "/a-pagar?vencimento=week", {}),
                ("A pagar, page 40", "/a-pagar?pagina=40", {}),
                ("A pagar, review only", "/a-pagar?veredito=review", {}),
                ("/api/v1/invoices", "/api/v1/invoices", {"headers": bearer}),
                ("/api/v1/invoices?due=overdue", "/api/v1/invoices?due=overdue",
                 {"headers": bearer}),
                ("/api/v1/invoices?page=100", "/api/v1/invoices?page=100", {"headers": bearer}),
            ]
            print(f"{'request':34} {'median':>9} {'p95':>9}  median/{BUDGET_MS:.0f} ms")
            for label, url, kw in cases:
                median, p95 = timed(client, url, **kw)
                print(f"{label:34} {median:7.1f}ms {p95:7.1f}ms  {median / BUDGET_MS:.2f}")


if __name__ == "__main__":
    main()
