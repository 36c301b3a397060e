"""Hardened XML parsing: no DTD, no entities, no network, a size limit."""

from __future__ import annotations

import re

from lxml import etree

from parsers.errors import HostileInputError, ParseError

MAX_XML_BYTES = 5 * 1024 * 1024
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _as_utf8_for_scan(data: bytes) -> bytes:
    """The bytes as UTF-8 for the DTD scan, whatever wide encoding they are in (BOM or not)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").encode("utf-8", errors="replace")
    head = data[:64]
    for enc, marker in (("utf-32-le", b"<\x00\x00\x00"), ("utf-32-be", b"\x00\x00\x00<"),
                        ("utf-16-le", b"<\x00"), ("utf-16-be", b"\x00<")):
        if marker in head:
            return data.decode(enc, errors="replace").encode("utf-8", errors="replace")
    return data


def parse_xml(data: bytes, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted XML bytes; refuse DTDs and entities, oversize input, any network."""
    if len(data) > max_bytes:
        raise HostileInputError(f"XML is {len(data):,} bytes, over the {max_bytes:,} byte limit")
    if _DTD.search(_as_utf8_for_scan(data)):
        raise HostileInputError("XML declares a DTD or entities (refused: entity expansion, XXE)")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise ParseError("empty XML document")
    return root


def local(tag: object) -> str:
    """The local name of an element tag, without its namespace."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def child(el: etree._Element | None, path: str) -> etree._Element | None:
    """Follow a slash path of local names (namespace-agnostic); None where it stops."""
    for name in path.split("/"):
        if el is None:
            return None
        el = el.find(f"{{*}}{name}")  # the first child of that local name (lxml's filter)
    return el


def text(el: etree._Element | None, path: str) -> str | None:
    """Stripped text at a path, or None when absent or empty."""
    found = child(el, path) if path else el
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def descendants(el: etree._Element, name: str) -> list[etree._Element]:
    """All descendants with this local name, in document order."""
    return list(el.iter(f"{{*}}{name}"))  # lxml's own filter: any namespace, or none
