"""Vendor profiles as data: built-in TOML files, extended or overridden from the configuration."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from parsers.body import BodyPatterns

LIST_KEYS = ("sender_domains", "subject_hints", "cnpj_roots", "banks", "pix_names")


@dataclass(frozen=True)
class VendorProfile:
    """How to recognise a vendor's emails and what its genuine bills look like."""

    key: str
    name: str
    legal_name: str
    sender_domains: tuple[str, ...]
    subject_hints: tuple[str, ...]
    cnpj_roots: tuple[str, ...]
    banks: tuple[str, ...]
    pix_names: tuple[str, ...]
    authenticity: str
    body: BodyPatterns = field(repr=False)

    def sender_matches(self, domain: str | None) -> bool:
        """Exact domain or a subdomain of it; look-alikes and suffix tricks do not match."""
        if not domain:
            return False
        d = domain.lower().rstrip(".")
        return any(d == s or d.endswith("." + s) for s in self.sender_domains)


def builtin_profiles() -> dict[str, dict[str, Any]]:
    """The raw data of every profile shipped in pipeline/config/vendors/."""
    out = {}
    for entry in resources.files("pipeline.config.vendors").iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name.removesuffix(".toml")] = tomllib.loads(entry.read_text("utf-8"))
    return out


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A user's [vendors.X] table over the built-in data: lists extend, scalars replace.

    A list given as {replace = [...]} replaces the built-in list instead of extending it.
    """
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and key == "body":
            out["body"] = merge(base.get("body", {}), value)
        elif isinstance(value, dict) and "replace" in value:
            out[key] = list(value["replace"])
        elif isinstance(value, list) and isinstance(base.get(key), list):
            out[key] = list(dict.fromkeys([*value, *base[key]]))
        else:
            out[key] = value
    return out


def build(key: str, data: dict[str, Any]) -> VendorProfile:
    """A profile from merged data (validated by pipeline.config.settings before it gets here)."""
    body = data.get("body", {})
    return VendorProfile(
        key=key,
        name=data.get("name", key.upper()),
        legal_name=data.get("legal_name", data.get("name", key.upper())),
        sender_domains=tuple(d.lower() for d in data.get("sender_domains", [])),
        subject_hints=tuple(h.lower() for h in data.get("subject_hints", [])),
        cnpj_roots=tuple(str(r)[:8] for r in data.get("cnpj_roots", [])),
        banks=tuple(f"{int(b):03d}" for b in data.get("banks", [])),
        pix_names=tuple(data.get("pix_names", [])),
        authenticity=data.get("authenticity", "none"),
        body=BodyPatterns(
            contract=tuple(body.get("contract", [])),
            reference_month=tuple(body.get("reference_month", [])),
            due_date=tuple(body.get("due_date", [])),
        ),
    )


def load_profiles(overrides: dict[str, dict[str, Any]]) -> dict[str, VendorProfile]:
    """Built-in profiles merged with the configuration's [vendors.*] tables."""
    raw = builtin_profiles()
    for key, override in overrides.items():
        raw[key] = merge(raw.get(key, {}), override)
    return {key: build(key, data) for key, data in raw.items()}
