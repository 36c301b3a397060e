"""MIME shapes real mail has: folded From, markup that is not XML, bounces, empty multiparts."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from parsers.message import parse_message
from parsers.mime import parse_email, sniff

SERPRO = "Servico Federal de Processamento de Dados (SERPRO) <faturamento@serpro.gov.br>"


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_a_from_folded_by_pythons_own_email_package_names_the_sender():
    msg = EmailMessage()
    msg["From"] = SERPRO
    msg["Subject"] = "Fatura"
    msg.set_content("corpo")
    raw = msg.as_bytes()
    assert b"(SERPRO)\n <faturamento" in raw  # folded between the name and the address
    parsed = parse_email(raw)
    assert parsed.from_address == "faturamento@serpro.gov.br"
    assert parsed.from_domain == "serpro.gov.br"
    # "(SERPRO)" is an RFC 5322 comment, not part of the display name.
    assert parsed.from_name == "Servico Federal de Processamento de Dados"


@pytest.mark.parametrize("folded", [
    "From: SERPRO\r\n <faturamento@serpro.gov.br>",
    "From:\r\n\tSERPRO <faturamento@serpro.gov.br>",
    "From: \"Servico Federal de Processamento de Dados\r\n (SERPRO)\" <faturamento@serpro.gov.br>",
])
def test_any_folding_of_from_gives_the_same_sender(folded):
    raw = folded.encode() + b"\r\nSubject: x\r\n\r\nbody\r\n"
    assert parse_email(raw).from_address == "faturamento@serpro.gov.br"


@pytest.mark.parametrize(("data", "declared", "kind"), [
    (b"<html><body>watch</body></html>", False, "html"),
    (b"<div>Apple watch-html</div>", False, "html"),
    (b"<bold>rich</bold> text/richtext", False, "text"),
    (b"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<TITLE>Bookmarks</TITLE>", False, "html"),
    (b"<note>declared as xml</note>", True, "xml"),
    (b"<?xml version='1.0'?><a/>", False, "xml"),
    (b"<CompNfse><Nfse/></CompNfse>", False, "xml"),
    (b"<ns2:NFSe xmlns:ns2='http://www.sped.fazenda.gov.br/nfse'/>", False, "xml"),
    (b"<soap:Envelope xmlns:soap='x'/>", False, "xml"),
    (b"", False, "empty"),
])
def test_markup_is_xml_only_when_it_says_so(data, declared, kind):
    assert sniff(data, declared_xml=declared) == kind


def _mail(sender: str, body: str) -> bytes:
    return _crlf(f"From: {sender}\nTo: financeiro@example.com.br\nSubject: x\n"
                 f"MIME-Version: 1.0\n{body}")


def test_a_watch_html_part_starting_with_a_doctype_is_not_an_xxe():
    raw = _mail("Amigo <amigo@example.org>", """Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain

oi
--b
Content-Type: text/watch-html

<!DOCTYPE html SYSTEM "about:legacy-compat"><div>oi</div>
--b--
""")
    assert parse_message(raw).problems == ()


BOUNCE = """Content-Type: multipart/report; report-type=delivery-status; boundary="BND"

--BND
Content-Type: text/plain

Your message could not be delivered.
--BND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com.br

Final-Recipient: rfc822; x@example.org
Status: 5.1.1
--BND
Content-Type: {kind}

From: financeiro@example.com.br
Subject: orcamento
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never-seen"
--BND--
"""


@pytest.mark.parametrize("kind", ["text/rfc822-headers", "message/rfc822"])
def test_a_bounce_with_a_headers_only_part_is_not_broken(kind):
    raw = _mail("MAILER-DAEMON@mx.example.com.br", BOUNCE.format(kind=kind))
    assert parse_message(raw).problems == ()


def test_an_empty_nested_multipart_is_not_broken():
    raw = _mail("a@example.org", """Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

hello
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner--
--outer--
""")
    m = parse_message(raw)
    assert m.problems == () and m.email.attachments == () and "hello" in m.email.text


def test_rfc_2046_example_with_a_folded_boundary_parameter():
    raw = _crlf("""From: Nathaniel Borenstein <nsb@bellcore.com>
To: Ned Freed <ned@innosoft.com>
Date: Sun, 21 Mar 1993 23:56:48 -0800 (PST)
Subject: Sample message
MIME-Version: 1.0
Content-type: multipart/mixed;
\tboundary="simple boundary"

This is the preamble.  It is to be ignored.

--simple boundary

This is implicitly typed plain US-ASCII text.
It does NOT end with a linebreak.
--simple boundary
Content-type: text/plain; charset=us-ascii

This is explicitly typed plain US-ASCII text.
It DOES end with a linebreak.

--simple boundary--

This is the epilogue.  It is also to be ignored.
""")
    m = parse_message(raw)
    assert m.problems == ()
    assert "implicitly typed" in m.email.text and "explicitly typed" in m.email.text


def test_reasons_are_words_not_class_names():
    raw = _mail("faturamento@serpro.gov.br", """Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

ver anexo
--b
Content-Type: application/pdf; name="boleto.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjcKJeLjz9MKMSAwIG9iag
--b
Content-Type: application/pdf; name="vazio.pdf"
Content-Transfer-Encoding: base64

--b--
""")
    problems = " ".join(parse_message(raw).problems)
    assert "base64 part is damaged" in problems
    assert "vazio.pdf: named as a PDF but it is empty (0 bytes)" in problems
    assert "Defect" not in problems and "Error" not in problems
