"""The store: tables, engine and sessions, blobs, migrations. Knows nothing of email or boletos."""

from storage.blobs import BlobStore
from storage.db import make_engine, migrate, open_store, session
from storage.desk_models import ApiToken, AuditEntry, InvoiceDecision, LearnedBank, User
from storage.models import BoletoRow, CheckRow, Document, Invoice, Message
from storage.types import from_cents, to_cents, utcnow

__all__ = [
    "ApiToken", "AuditEntry", "BlobStore", "BoletoRow", "CheckRow", "Document", "Invoice",
    "InvoiceDecision", "LearnedBank", "Message", "User", "from_cents", "make_engine", "migrate",
    "open_store", "session", "to_cents", "utcnow",
]
