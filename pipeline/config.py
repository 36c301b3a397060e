"""The configuration file (confere.toml), validated with pydantic; errors name key and fix."""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parsers import cnpj as cnpj_rules
from parsers.body import compile_check

from .errors import ConfigError
from .profiles import LIST_KEYS, VendorProfile, load_profiles

ENV_VAR = "CONFERE_CONFIG"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///confere.db"


class StorageConfig(_Strict):
    blobs: str = "data/blobs"


class CompanyConfig(_Strict):
    name: str = ""
    cnpjs: list[str] = Field(default_factory=list)
    email_domains: list[str] = Field(default_factory=list)

    @field_validator("cnpjs")
    @classmethod
    def _valid_cnpjs(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            if not cnpj_rules.is_valid(v):
                raise ValueError(f"{v!r} is not a valid CNPJ (check digits do not hold)")
            out.append(cnpj_rules.normalize(v))
        return out


class BodyConfig(_Strict):
    contract: list[str] = Field(default_factory=list)
    reference_month: list[str] = Field(default_factory=list)
    due_date: list[str] = Field(default_factory=list)

    @field_validator("contract", "reference_month", "due_date")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for v in values:
            problem = compile_check(v)
            if problem:
                raise ValueError(f"pattern {v!r}: {problem}")
        return values


class VendorConfig(_Strict):
    name: str | None = None
    legal_name: str | None = None
    sender_domains: list[str] | None = None
    subject_hints: list[str] | None = None
    cnpj_roots: list[str] | None = None
    banks: list[str] | None = None
    pix_names: list[str] | None = None
    authenticity: Literal["issnet-df", "nfse-nacional", "none"] | None = None
    body: BodyConfig | None = None
    replace: list[Literal[*LIST_KEYS]] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="list keys whose built-in values are replaced instead of extended")

    @field_validator("banks")
    @classmethod
    def _banks(cls, values: list[str] | None) -> list[str] | None:
        for v in values or []:
            if not (str(v).isdigit() and len(str(v)) <= 3):
                raise ValueError(f"{v!r} is not a bank code: use the 3-digit code, e.g. \"001\"")
        return values


class ContractConfig(_Strict):
    vendor: str
    number: str
    billing: Literal["usage", "metric"] = "usage"
    price_table: str | None = None
    pricing_mode: Literal["band", "progressive"] = "band"
    tolerance: Decimal = Decimal("0.50")


class MailboxConfig(_Strict):
    name: str
    host: str
    port: int = 993
    security: Literal["tls", "starttls", "plain"] = "tls"
    username: str
    password_env: str | None = None
    password_file: str | None = None
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    after: str = "flag"
    every: str = "5m"


class AlertsConfig(_Strict):
    smtp_host: str = "localhost"
    smtp_port: int = 587
    security: Literal["tls", "starttls", "plain"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str = "confere <confere@localhost>"
    to: list[str] = Field(default_factory=list)


class LimitsConfig(_Strict):
    max_message_bytes: int = 60 * 1024 * 1024
    max_attachment_bytes: int = 20 * 1024 * 1024
    parse_seconds: float = 20.0
    parse_memory_mb: int = 1024
    workers: int = Field(default=0, description="parse processes; 0 = one per core")


class Settings(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    company: CompanyConfig = CompanyConfig()
    vendors: dict[str, VendorConfig] = Field(default_factory=dict)
    contracts: list[ContractConfig] = Field(default_factory=list)
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    limits: LimitsConfig = LimitsConfig()


class Config:
    """Validated settings plus what is derived from them (vendor profiles, paths)."""

    def __init__(self, settings: Settings, base_dir: Path, source: str) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.source = source
        self.vendors: dict[str, VendorProfile] = load_profiles(_vendor_overrides(settings))
        for contract in settings.contracts:
            if contract.vendor not in self.vendors:
                known = ", ".join(sorted(self.vendors))
                raise ConfigError(f"{source}: contracts: vendor {contract.vendor!r} is not a "
                                  f"known vendor (known: {known}); add [vendors.{contract.vendor}]")

    @property
    def database_url(self) -> str:
        """The database URL, with a relative SQLite path resolved against the config's folder."""
        url = self.settings.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str((self.base_dir / url.removeprefix(prefix)).resolve())
        return url

    @property
    def blob_dir(self) -> Path:
        """Where raw emails and attachments are kept."""
        return (self.base_dir / self.settings.storage.blobs).resolve()

    def contracts_for(self, vendor: str) -> list[ContractConfig]:
        """Configured contracts of one vendor."""
        return [c for c in self.settings.contracts if c.vendor == vendor]


def _vendor_overrides(settings: Settings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, vc in settings.vendors.items():
        data = vc.model_dump(exclude_none=True, exclude={"replace"})
        for list_key in vc.replace:
            if list_key in data:
                data[list_key] = {"replace": data[list_key]}
        if "body" in data:
            data["body"] = {k: v for k, v in data["body"].items() if v}
        out[key] = data
    return out


def _format_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `confere init` writes every key with a comment)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def from_dict(data: dict[str, Any], base_dir: Path, source: str = "<config>") -> Config:
    """Validate a configuration given as a dict (as read from TOML)."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None
    return Config(settings, base_dir, source)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config from --config, else $CONFERE_CONFIG, else ./confere.toml, else defaults."""
    chosen = path or os.environ.get(ENV_VAR)
    if chosen is None and Path("confere.toml").exists():
        chosen = "confere.toml"
    if chosen is None:
        return from_dict({}, Path.cwd(), "<defaults>")
    p = Path(chosen)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return from_dict(data, p.resolve().parent, str(p))
