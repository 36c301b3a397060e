"""Prefilled verification links for a person: ISSNet's public page, the national public query."""

from __future__ import annotations

from urllib.parse import quote

# Pages with a CAPTCHA: confere never fetches them, it only hands the link to a person.


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, **values: str | None) -> str:
    return template.format_map(_Blank({k: quote(v or "", safe="") for k, v in values.items()}))


def issnet_link(template: str, *, number: str | None, code: str | None,
                municipal_registration: str | None, provider_cnpj: str | None) -> str | None:
    """ISSNet's public authenticity page, prefilled; None without a number and a code."""
    if not number or not code:
        return None
    return _fill(template, number=number, code=code, im=municipal_registration,
                 cnpj=provider_cnpj)


def sefin_link(template: str, *, access_key: str | None) -> str | None:
    """The national NFS-e public query for an access key; None without a key."""
    if not access_key:
        return None
    return _fill(template, key=access_key)
