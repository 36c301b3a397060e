"""The configuration file (confere.toml), validated with pydantic; errors name key and fix."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from decimal import Decimal
from difflib import get_close_matches
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parsers import cnpj as cnpj_rules
from parsers.body import compile_check
from parsers.errors import ConfigError
from parsers.text import only_digits
from pipeline.config.profiles import LIST_KEYS, VendorProfile, load_profiles
from pipeline.config.trust import TrustStore, build_trust

ENV_VAR = "CONFERE_CONFIG"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///confere.db"

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+]*://", value.strip()):
            raise ValueError(f"{value!r} has no scheme: write \"sqlite:///confere.db\" (a file "
                             "beside the config) or \"postgresql+psycopg://user@host/db\"")
        return value.strip()


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


class MetricBandConfig(_Strict):
    upto: Decimal | None = Field(default=None, description="last metric value of the band")
    fee: Decimal = Field(description="expected amount of each bill in this band")


class ContractConfig(_Strict):
    vendor: str
    number: str
    billing: Literal["usage", "metric"] = "usage"
    price_table: str | None = None
    pricing_mode: Literal["band", "progressive"] = "band"
    tolerance: Decimal = Decimal("0.50")
    contratantes: list[str] = Field(default_factory=list,
                                    description="CNPJs whose metered usage is this contract's")
    budget: Decimal | None = Field(default=None, description="monthly budget, for the forecast")
    companies: list[str] = Field(default_factory=list,
                                 description="the group's CNPJs declaring the metric")
    metric_bands: list[MetricBandConfig] = Field(default_factory=list)
    metric_year_offset: int = Field(default=1, ge=0, description="bill year - declared year")

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        """'261.074' and '261074' are one contract: numbers are kept as their digits, as the
        body parser reads them, when they are digits and punctuation only."""
        value = value.strip()
        if not value:
            raise ValueError("a contract number is required")
        if re.fullmatch(r"[0-9][0-9./ -]*", value):
            return only_digits(value)
        return value

    @field_validator("contratantes", "companies")
    @classmethod
    def _cnpjs(cls, values: list[str]) -> list[str]:
        for v in values:
            if not cnpj_rules.is_valid(v):
                raise ValueError(f"{v!r} is not a valid CNPJ (check digits do not hold)")
        return [cnpj_rules.normalize(v) for v in values]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_AFTER = re.compile(r"^(none|flag|flag:\$?[A-Za-z0-9_.-]+|label:[^\r\n]+|move:[^\r\n]+)$")


def parse_interval(text: str) -> float:
    """'30s', '5m', '1h', '1d' (or plain seconds) to seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not an interval: write e.g. \"30s\", \"5m\", \"1h\"")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


class MailboxConfig(_Strict):
    name: str
    host: str = ""
    port: int = 993
    security: Literal["tls", "starttls", "plain"] = "tls"
    username: str = ""
    auth: Literal["password", "xoauth2"] = "password"
    password_env: str | None = None
    password_file: str | None = None
    token_command: str | None = None
    token_file: str | None = None
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    after: str = "flag"
    every: str = "5m"
    timeout: float = Field(default=30.0, gt=0, description="seconds per IMAP network operation")
    since: date | None = Field(default=None, description="ignore mail older than this date")
    path: str | None = Field(default=None, description="a local folder, Maildir or mbox")

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        if not _AFTER.match(value):
            raise ValueError(f"{value!r} is not a post-action: use \"flag\", \"flag:$Keyword\", "
                             "\"label:Name\" (Gmail), \"move:Folder\" or \"none\"")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        parse_interval(value)
        return value

    @model_validator(mode="after")
    def _source(self) -> MailboxConfig:
        if self.path is not None and self.host:
            raise ValueError(f"mailbox {self.name!r}: give either path (a local folder, Maildir "
                             "or mbox) or host (IMAP), not both")
        if self.path is not None:
            return self
        if self.security == "plain" and self.host and not is_loopback(self.host):
            raise ValueError(f"mailbox {self.name!r}: security = \"plain\" would send the "
                             f"password unencrypted to {self.host}: use \"tls\" (port 993) or "
                             "\"starttls\" (port 143)")
        if not self.host or not self.username:
            raise ValueError(f"mailbox {self.name!r}: set host and username (IMAP) or path "
                             "(a local folder, Maildir or mbox)")
        if self.auth == "xoauth2" and not (self.token_command or self.token_file):
            raise ValueError(f"mailbox {self.name!r}: auth = \"xoauth2\" needs token_command "
                             "or token_file")
        if self.auth == "password" and not (self.password_env or self.password_file):
            raise ValueError(f"mailbox {self.name!r}: set password_env (an environment "
                             "variable's name) or password_file")
        return self


class DaemonConfig(_Strict):
    process_every: str = Field(default="10s", description="how often pending mail is processed")
    lease: str = Field(default="5m", description="how long a daemon may hold a mailbox")
    misfire_grace: str = Field(default="5m", description="a late job still runs within this")
    retries: int = Field(default=3, ge=0, description="processing attempts per message")

    @field_validator("process_every", "lease", "misfire_grace")
    @classmethod
    def _interval(cls, value: str) -> str:
        parse_interval(value)
        return value


def is_loopback(host: str) -> bool:
    """Whether a host name is this machine (where plain SMTP/IMAP is harmless)."""
    h = host.strip().strip("[]").lower()
    return h in ("localhost", "::1") or h.startswith("127.")


class AlertsConfig(_Strict):
    smtp_host: str = ""
    smtp_port: int = 587
    security: Literal["tls", "starttls", "plain"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str = "confere <confere@localhost>"
    to: list[str] = Field(default_factory=list)
    kinds: list[Literal["new", "block", "review", "due", "overdue", "missing", "over",
                        "declaration", "forecast", "unread"]] = Field(
        default_factory=lambda: ["new", "block", "review", "due", "overdue", "missing", "over",
                                 "declaration", "forecast", "unread"],
        description="which alerts to write to the outbox")
    arrival_max_age_days: int = Field(
        default=20, ge=0, description="no arrival or overdue alert for a bill whose email is "
                                      "older than this (a first import of an old mailbox); 0: "
                                      "announce every bill")
    due_days: list[int] = Field(default_factory=lambda: [5, 1],
                                description="remind this many days before a due date")
    missing_by_day: int = Field(default=10, ge=1, le=28,
                                description="day of the month by which last month's bill is due")
    declaration_warning_days: int = Field(default=15, ge=0)
    declaration_deadline: str = Field(
        default="01-31", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD in the first billing year by which a year's declarations are due")
    forecast_from_day: int = Field(default=5, ge=1, le=28,
                                   description="first day of the month to trust a forecast")
    attach_documents: bool = True
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff: float = Field(default=60.0, ge=0, description="first wait between tries, seconds")
    backoff_max: float = Field(default=6 * 3600.0, ge=0)
    timeout: float = Field(default=30.0, gt=0, description="SMTP socket timeout, seconds")
    ca_bundle: str | None = Field(default=None,
                                  description="extra CA file to trust for the SMTP server's TLS")

    @field_validator("to")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for v in values:
            address = parseaddr(v)[1]
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"{v!r} is not an email address: write e.g. "
                                 "\"financeiro@empresa.com.br\"")
        return values

    @model_validator(mode="after")
    def _server(self) -> AlertsConfig:
        if self.to and not self.smtp_host:
            raise ValueError("alerts.to is set but smtp_host is not: name the mail server that "
                             "sends the alerts, e.g. smtp_host = \"smtp.empresa.com.br\"")
        if self.security == "plain" and self.smtp_host and not is_loopback(self.smtp_host) \
                and self.username:
            raise ValueError(f"security = \"plain\" would send the SMTP password unencrypted "
                             f"to {self.smtp_host}: use \"starttls\" (port 587) or \"tls\" "
                             "(port 465)")
        return self

    @field_validator("due_days")
    @classmethod
    def _due_days(cls, values: list[int]) -> list[int]:
        for v in values:
            if v < 0:
                raise ValueError(f"{v} is negative: give days before the due date, e.g. [5, 1]")
        return sorted(set(values), reverse=True)


class LimitsConfig(_Strict):
    max_message_bytes: int = 60 * 1024 * 1024
    max_attachment_bytes: int = 20 * 1024 * 1024
    parse_seconds: float = Field(default=20.0, gt=0, description="time limit to read one email")
    parse_memory_mb: int = Field(default=1024, gt=0)
    workers: int = Field(default=0, description="parse processes; 0 = one per core")


class AuthenticityConfig(_Strict):
    """Asking the issuer (ISSNet, national NFS-e) and authenticating the email itself."""

    pkcs12: str | None = Field(default=None, description="the company's e-CNPJ A1 (.pfx/.p12)")
    password_env: str | None = Field(default=None, description="env var holding its password")
    consulente_cnpj: str | None = Field(default=None, description="default: company.cnpjs[0]")
    inscricao_municipal: str | None = None
    issnet_url: str = "https://df.issnetonline.com.br/webservicenfse204/nfse.asmx"
    issnet_public_url: str = (
        "https://df.issnetonline.com.br/online/NotaDigital/VerificaAutenticidade.aspx"
        "?InscricaoMunicipal={im}&NumeroNota={number}&CodigoVerificacao={code}")
    sefin_url: str = "https://sefin.nfse.gov.br/SefinNacional"
    sefin_public_url: str = "https://www.nfse.gov.br/ConsultaPublica/?tpc=1&chave={key}"
    ca_bundle: str | None = Field(default=None, description="extra CA file for TLS verification")
    timeout: float = Field(default=20.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=1, le=10)
    backoff: float = Field(default=1.0, ge=0, description="first wait between retries, seconds")
    min_interval: float = Field(default=1.0, ge=0, description="seconds between calls per host")
    recheck_after: float = Field(default=900.0, ge=0,
                                 description="seconds before an unknown result is asked again")
    max_pages: int = Field(default=20, ge=1)
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    dkim: Literal["off", "dns"] = "off"
    dns_servers: list[str] = Field(default_factory=list)
    dns_timeout: float = Field(default=5.0, gt=0)
    dkim_keys: dict[str, str] = Field(
        default_factory=dict, description="pinned TXT records by selector._domainkey.domain")
    unsigned_email: Literal["unknown", "fail"] = "unknown"
    signature_cas: list[str] = Field(
        default_factory=list, description="extra PEM files of CAs (roots and intermediates) "
        "trusted for NFS-e signatures, relative to the config file")
    issuers: dict[str, list[str]] = Field(
        default_factory=dict, description="IBGE municipality code -> CNPJs of the government "
        "that issues (and signs) NFS-e there, added to the shipped table")

    @field_validator("issuers")
    @classmethod
    def _issuers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for code, cnpjs in value.items():
            if not re.fullmatch(r"\d{7}", code):
                raise ValueError(f"{code!r} is not an IBGE municipality code (7 digits, e.g. "
                                 "\"5300108\" for Brasilia)")
            for c in cnpjs:
                if not cnpj_rules.is_valid(c):
                    raise ValueError(f"{code}: {c!r} is not a valid CNPJ (check digits do not "
                                     "hold)")
        return {code: [cnpj_rules.normalize(c) for c in cnpjs] for code, cnpjs in value.items()}

    @field_validator("consulente_cnpj")
    @classmethod
    def _consulente(cls, value: str | None) -> str | None:
        if value is not None and not cnpj_rules.is_valid(value):
            raise ValueError(f"{value!r} is not a valid CNPJ (check digits do not hold)")
        return cnpj_rules.normalize(value) if value else value


class WebConfig(_Strict):
    """The finance desk (`confere web`): where it listens and how sessions are signed."""

    host: str = Field(default="127.0.0.1", description="loopback by default; 0.0.0.0 to expose")
    port: int = Field(default=8765, ge=1, le=65535)
    base_url: str | None = Field(default=None,
                                 description="the desk's public URL (https: Secure cookies); "
                                             "alerts link to a bill's page under it")
    secret_env: str | None = Field(default=None,
                                   description="env var holding the cookie signing key; unset: "
                                               "a random key per start (sessions end on restart)")
    session_max_age: str = Field(default="8h", description="a session expires after this")
    page_size: int = Field(default=50, ge=10, le=500, description="bills per page")

    @field_validator("session_max_age")
    @classmethod
    def _max_age(cls, value: str) -> str:
        parse_interval(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not a URL: write e.g. \"https://confere.example\"")
        return value.rstrip("/") if value else value


class Settings(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    company: CompanyConfig = CompanyConfig()
    vendors: dict[str, VendorConfig] = Field(default_factory=dict)
    contracts: list[ContractConfig] = Field(default_factory=list)
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    limits: LimitsConfig = LimitsConfig()
    daemon: DaemonConfig = DaemonConfig()
    authenticity: AuthenticityConfig = AuthenticityConfig()
    web: WebConfig = WebConfig()
    price_tables: list[str] = Field(default_factory=list,
                                    description="user price table files (TOML)")


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
        auth = settings.authenticity
        try:  # read now: a missing CA file is a configuration error, not a bill's problem
            self.signature_trust: TrustStore = build_trust(auth.signature_cas, auth.issuers,
                                                           base_dir)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

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


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model that holds the last key of an error's location."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        if part not in getattr(model, "model_fields", {}):
            if hasattr(model, "model_fields"):
                return None
            continue  # a dict key (a vendor's name)
        model = _inner_model(model.model_fields[part].annotation)
    return model if hasattr(model, "model_fields") else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _key(loc: tuple[Any, ...]) -> str:
    """A location as a person counts: contracts[1].tolerance for the first [[contracts]]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        elif not (isinstance(part, str) and part.startswith(("function-", "literal["))):
            out += ("." if out else "") + str(part)
    return out


def _format_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = _key(loc)
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            close = get_close_matches(str(loc[-1]), list(model.model_fields) if model else [],
                                      n=1, cutoff=0.6)
            msg = (f"unknown key: did you mean `{close[0]}`?" if close else
                   "unknown key (check the spelling; `confere init` writes every key with a "
                   "comment)")
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", value):
            msg = f"{value!r}: use a point for decimals: {value.strip().replace(',', '.')}"
        elif err["type"] in ("greater_than", "greater_than_equal") and value is not None:
            msg = f"{value!r}: {msg.lower()}"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def _check_paths(config: Config) -> None:
    """Files and folders a configuration file names exist (checked at load, with the fix).

    The store would create a missing SQLite folder; from a file that is more often a typo than
    a wish, so the file's loader refuses it (code building a config may rely on the creation).
    """
    problems = []
    url = config.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        folder = Path(url.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            problems.append(f"  database.url: the folder {folder} does not exist: create it "
                            "or point the URL elsewhere")
    cert = config.settings.authenticity.pkcs12
    if cert and not (config.base_dir / cert).is_file():
        problems.append(f"  authenticity.pkcs12: {config.base_dir / cert} does not exist: give "
                        "the path of the company's e-CNPJ A1 (.pfx/.p12), or remove the key")
    if problems:
        raise ConfigError("\n".join([f"{config.source}: invalid configuration", *problems]))


def check_environment(config: Config) -> None:
    """Variables the configuration names are set: the CLI calls this before a command runs."""
    a = config.settings.authenticity
    if a.pkcs12 and a.password_env and a.password_env not in os.environ:
        raise ConfigError(f"{config.source}: authenticity.password_env: the variable "
                          f"${a.password_env} is not set: export it with the certificate's "
                          "password (or remove the key if the certificate has none)")


def from_dict(data: dict[str, Any], base_dir: Path, source: str = "<config>") -> Config:
    """Validate a configuration given as a dict (as read from TOML)."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None
    return Config(settings, base_dir, source)


def _toml_hint(raw: bytes, exc: Exception) -> str:
    """The usual cause of a TOML error on the line it names (a decimal comma)."""
    found = re.search(r"line (\d+)", str(exc))
    if not found:
        return ""
    lines = raw.decode("utf-8", "replace").splitlines()
    number = int(found.group(1))
    line = lines[number - 1] if 0 < number <= len(lines) else ""
    comma = re.search(r"=\s*(-?\d+),(\d+)\s*(#.*)?$", line)
    if comma:
        return (f"\n  line {number}: {line.strip()}\n  use a point for decimals: "
                f"{comma.group(1)}.{comma.group(2)}")
    return f"\n  line {number}: {line.strip()}" if line.strip() else ""


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
        raise ConfigError(f"{p}: not valid TOML: {exc}{_toml_hint(raw, exc)}") from None
    config = from_dict(data, p.resolve().parent, str(p))
    _check_paths(config)  # a file a person wrote: its paths must exist
    return config
