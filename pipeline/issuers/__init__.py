"""Asking the issuer: ISSNet's SOAP web service, the national NFS-e API, and prefilled links."""

from parsers.errors import IssuerError, IssuerUnavailable
from pipeline.issuers.compare import NoteFacts, compare_notes
from pipeline.issuers.http import RateLimiter, client_identity
from pipeline.issuers.links import issnet_link, sefin_link

__all__ = [
    "IssuerError", "IssuerUnavailable", "NoteFacts", "RateLimiter", "client_identity",
    "compare_notes", "issnet_link", "sefin_link",
]
