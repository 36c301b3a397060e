"""A bill's files as a person opens them: hostile attachment names and declared types."""

from __future__ import annotations

import pytest

from pipeline.desk.files import content_type_for, safe_name
from pipeline.desk.roles import Action, Actor, Role, can


@pytest.mark.parametrize(("given", "expected"), [
    ("boleto_261074_032026.pdf", "boleto_261074_032026.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\fin\\nota.xml", "nota.xml"),
    ("<script>alert(1)</script>.pdf", "script_.pdf"),  # "/" is a folder: the tail stays
    ("<img src=x onerror=alert(1)>.pdf", "_img src_x onerror_alert_1__.pdf"),
    ('a"; filename="x.html', "a__ filename__x.html"),
    ("nota\r\nContent-Type: text.pdf", "nota__Content-Type_ text.pdf"),
    ("...", "arquivo"),
    ("", "arquivo"),
    (None, "arquivo"),
])
def test_file_names_are_made_safe(given, expected):
    assert safe_name(given) == expected


def test_a_long_name_is_cut():
    assert len(safe_name("a" * 500 + ".pdf")) == 120


@pytest.mark.parametrize(("kind", "declared", "served"), [
    ("boleto_pdf", "text/html", "application/pdf"),  # the kind we read it as wins
    ("nfse_xml", "application/octet-stream", "application/xml"),
    ("email", None, "message/rfc822"),
    ("other", "text/html", "application/octet-stream"),  # never served as HTML
    ("other", "image/svg+xml", "application/octet-stream"),  # SVG runs scripts
    ("other", "application/pdf; name=x.pdf", "application/pdf"),
    ("payment_proof", None, "application/octet-stream"),
])
def test_files_are_served_with_a_safe_type(kind, declared, served):
    assert content_type_for(kind, declared) == served


@pytest.mark.parametrize(("role", "allowed"), [
    (Role.VIEWER, set()),
    (Role.APPROVER, {"approve", "reject", "undo", "pay", "recheck", "retry"}),
    (Role.ADMIN, {"approve", "reject", "undo", "pay", "recheck", "retry", "override", "manage"}),
])
def test_each_role_allows_its_actions(role, allowed):
    actor = Actor("x", role, "cli")
    assert {str(a) for a in Action if can(actor, a)} == allowed
    assert can(actor, "delete-everything") is False
