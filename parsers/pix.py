"""Pix BR Code (EMV QR) reading: TLV fields, CRC-16/CCITT-FALSE, merchant, amount, key/url/txid."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from parsers.errors import ParseError
from parsers.text import strip_accents

PIX_GUI = "br.gov.bcb.pix"


@dataclass(frozen=True)
class PixCode:
    """What a Pix BR Code says, and whether its CRC holds."""

    payload: str
    crc_valid: bool
    merchant_name: str | None
    merchant_city: str | None
    amount: Decimal | None
    key: str | None
    url: str | None
    txid: str | None
    dynamic: bool


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.

    The standard library's crc_hqx is that polynomial, unreflected, from the given start.
    """
    return binascii.crc_hqx(data, 0xFFFF)


def tlv(payload: str) -> list[tuple[str, str]]:
    """Split an EMV TLV string into (id, value) pairs; raise on a broken length."""
    out = []
    i = 0
    while i < len(payload):
        if i + 4 > len(payload):
            raise ParseError(f"truncated TLV header at position {i}")
        tag, size = payload[i:i + 2], payload[i + 2:i + 4]
        if not (tag.isdigit() and size.isdigit()):
            raise ParseError(f"bad TLV header {payload[i:i + 4]!r} at position {i}")
        n = int(size)
        value = payload[i + 4:i + 4 + n]
        if len(value) != n:
            raise ParseError(f"field {tag} declares {n} characters, has {len(value)}")
        out.append((tag, value))
        i += 4 + n
    return out


def with_crc(payload_without_crc: str) -> str:
    """Append '6304' and the CRC (used to build codes in fixtures and tests)."""
    body = payload_without_crc + "6304"
    return body + f"{crc16(body.encode('utf-8')):04X}"


def field(tag: str, value: str) -> str:
    """One TLV field."""
    return f"{tag}{len(value):02d}{value}"


BR_CODE_PREFIX = "000201"  # EMV payload format indicator: field 00, length 02, value "01"
_AMOUNT = re.compile(r"(\d{1,13}(?:\.\d{0,2})?|\.\d{1,2})")


def is_br_code(text: str) -> bool:
    """A QR's text is a BR Code (an EMV payload) only if it starts with "000201"; anything
    else (a URL to the vendor's portal, a vCard) is simply not a Pix."""
    return text.strip().lstrip("\ufeff").startswith(BR_CODE_PREFIX)


def _sub_fields(value: str) -> dict[str, str]:
    """A template's sub-fields; a template that does not split is read as having none (EMV
    readers ignore what they do not use)."""
    try:
        return dict(tlv(value))
    except ParseError:
        return {}


def parse_amount(text: str) -> Decimal:
    """Field 54 as EMV allows it: digits with an optional point and up to two decimals
    ("10", "10.", "10.5", ".50"); more decimals are refused, never rounded."""
    value = text.strip()
    if not _AMOUNT.fullmatch(value):
        raise ParseError(f"field 54 (amount) is not an amount: {text!r}")
    try:
        return Decimal(value.rstrip(".") or "0").quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ParseError(f"field 54 (amount) is not a number: {text!r}") from exc


def parse(payload: str) -> PixCode:
    """Read a BR Code payload; the CRC is checked, not enforced (see crc_valid)."""
    payload = payload.strip().lstrip("\ufeff")
    fields = dict(tlv(payload))
    if fields.get("00") != "01":
        raise ParseError("not an EMV BR Code: field 00 is not '01'")
    crc_ok = False
    if "63" in fields and payload.endswith(fields["63"]) and len(fields["63"]) == 4:
        body = payload[: -4].encode("utf-8")
        crc_ok = f"{crc16(body):04X}" == fields["63"]
    key = url = None
    for tag in (str(t) for t in range(26, 52)):
        if tag in fields:
            sub = _sub_fields(fields[tag])
            if sub.get("00", "").lower() == PIX_GUI:
                key = sub.get("01")
                url = sub.get("25")
                break
    txid = None
    if "62" in fields:
        txid = _sub_fields(fields["62"]).get("05")
        if txid == "***":
            txid = None
    amount = None
    if fields.get("54", "").strip():
        # EMV: up to 13 characters, digits with at most two decimals. Never rounded: a
        # '123.454' must not pass for the boleto's 123.45.
        amount = parse_amount(fields["54"])
    return PixCode(
        payload=payload,
        crc_valid=crc_ok,
        merchant_name=fields.get("59"),
        merchant_city=fields.get("60"),
        amount=amount,
        key=key,
        url=url,
        txid=txid,
        dynamic=fields.get("01") == "12",
    )


def normalize_name(name: str) -> str:
    """Upper case, accents and punctuation removed, spaces folded, for name comparison."""
    kept = "".join(c if c.isalnum() else " " for c in strip_accents(name).upper())
    return " ".join(kept.split())


def names_match(merchant: str, known: str) -> bool:
    """Names match after normalising, as a prefix either way (field 59 is cut at 25)."""
    a, b = normalize_name(merchant), normalize_name(known)
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))
