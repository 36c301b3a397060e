"""The national NFS-e API (Sefin Nacional): GET /nfse/{chave} over mutual TLS."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass

import httpx

from parsers.errors import IssuerError, ParseError
from parsers.nfse import Nfse, parse_nfse_all
from parsers.xmlsafe import MAX_XML_BYTES
from pipeline.issuers.http import RateLimiter, request


@dataclass(frozen=True)
class SefinFound:
    """The national system's copy of the note (None when it has none) and its XML."""

    note: Nfse | None
    xml: bytes | None


def gunzip_limited(data: bytes, limit: int = MAX_XML_BYTES) -> bytes:
    """Inflate gzip data, refusing more than `limit` bytes (a gzip bomb costs nothing)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise IssuerError(f"the national API's XML inflates past {limit:,} bytes (refused)")
    return out


def decode_answer(body: bytes) -> bytes:
    """The note's XML from the JSON answer {"nfseXmlGZipB64": ...}."""
    try:
        data = json.loads(body)
        packed = data["nfseXmlGZipB64"]
        return gunzip_limited(base64.b64decode(packed, validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error, zlib.error) as exc:
        raise IssuerError(f"the national API's answer is not the expected "
                          f"{{\"nfseXmlGZipB64\": ...}} ({type(exc).__name__})") from None


class SefinClient:
    """Looks one note up by its 50-digit access key; callers add retries around `find`."""

    def __init__(self, client: httpx.Client, base_url: str, limiter: RateLimiter,
                 timeout: float) -> None:
        self.client, self.base_url, self.limiter = client, base_url.rstrip("/"), limiter
        self.timeout = timeout

    def find(self, access_key: str) -> SefinFound:
        """The note the national system holds for this key."""
        if not (access_key.isdigit() and len(access_key) == 50):
            raise IssuerError(f"{access_key!r} is not a 50-digit access key")
        response = request(self.client, "GET", f"{self.base_url}/nfse/{access_key}",
                           limiter=self.limiter, timeout=self.timeout,
                           headers={"Accept": "application/json"})
        if response.status_code == 404:
            return SefinFound(None, None)
        if response.status_code != 200:
            raise IssuerError(f"the national API answered HTTP {response.status_code}: "
                              f"{response.text[:200]}")
        xml = decode_answer(response.content)
        try:
            return SefinFound(parse_nfse_all(xml)[0], xml)
        except ParseError as exc:
            raise IssuerError(f"the national API's note could not be read: {exc}") from None
