"""The desk's bill list: due-date order across pages, buckets and counts, whatever gave the date."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlmodel import Session

from pipeline.web import queries
from storage import BoletoRow, Invoice, InvoiceDecision, Message, open_store, utcnow

TODAY = date(2026, 11, 17)


@pytest.fixture
def store(tmp_path):
    """120 bills: most dated by their email, some only by their boleto, some by neither;
    some paid, some rejected."""
    engine = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    rng = random.Random(7)
    now = utcnow()
    expected = []  # (id, due) of the open bills, as the finance team should see them
    with Session(engine) as s:
        for i in range(1, 121):
            s.add(Message(id=i, sha256=f"{i:064x}", source="file", size=1))
            s.flush()
            due = TODAY + timedelta(days=rng.randint(-30, 30))
            shape = rng.choice(("email", "email", "boleto", "none"))
            paid = i % 9 == 0
            s.add(Invoice(id=i, message_id=i, vendor="serpro", verdict="review",
                          due_date=due if shape == "email" else None,
                          paid_at=now if paid else None))
            s.flush()
            if shape != "none":
                s.add(BoletoRow(invoice_id=i, barcode="0" * 44, bank_code="001",
                                due_date=due, amount_cents=100 * i, barcode_read=True))
            rejected = i % 11 == 0
            if rejected:
                s.add(InvoiceDecision(invoice_id=i, decision="rejected"))
            if not paid and not rejected:
                expected.append((i, None if shape == "none" else due))
        s.commit()
    expected.sort(key=lambda k: (k[1] is None, k[1] or date.min, k[0]))
    yield engine, expected
    engine.dispose()


def test_pages_follow_due_dates_whichever_document_gave_them(store):
    engine, expected = store
    with Session(engine) as s:
        seen = []
        for page in range(1, 6):
            result = queries.bills(s, queries.Filters(), TODAY, page, 25)
            seen += [(r.id, r.due_date) for r in result.rows]
        assert seen == expected
        assert result.total == len(expected)


def test_buckets_and_counts(store):
    engine, expected = store
    week_end = TODAY + timedelta(days=7)

    def bucket(due):
        if due is None:
            return "none"
        return "overdue" if due < TODAY else "week" if due <= week_end else "later"

    with Session(engine) as s:
        first = queries.bills(s, queries.Filters(), TODAY, 1, 500)
        for name in queries.BUCKETS:
            want = [k for k in expected if bucket(k[1]) == name]
            assert first.counts[name] == len(want)
            got = queries.bills(s, queries.Filters(bucket=name), TODAY, 1, 500)
            assert [(r.id, r.due_date) for r in got.rows] == want
            assert {r.bucket for r in got.rows} <= {name}


def test_paid_and_rejected_bills_leave_the_list(store):
    engine, expected = store
    with Session(engine) as s:
        open_ids = {r.id for r in queries.bills(s, queries.Filters(), TODAY, 1, 500).rows}
        paid = queries.bills(s, queries.Filters(paid=True), TODAY, 1, 500)
    assert open_ids == {k[0] for k in expected}
    assert all(i % 9 and i % 11 for i in open_ids)
    assert {r.id for r in paid.rows} == {i for i in range(1, 121) if i % 9 == 0}
