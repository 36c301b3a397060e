"""Delivering the alert outbox over SMTP: once each, retried with backoff, never lost.

A sender claims a due row by pushing its `next_attempt_at` forward (a lease) and counting the
attempt, in a committed conditional UPDATE, so two senders never take the same row. The row
is marked sent in its own transaction only after the server accepted the message; a crash in
between re-sends it after the lease with the same Message-ID, which recipients recognise.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as _SMTP
from email.utils import format_datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from parsers.errors import ConfigError
from pipeline.config.settings import AlertsConfig, Config
from pipeline.notify.rules import SAO_PAULO, evaluate_time_rules
from storage import BlobStore
from storage.alert_models import Alert
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
SMTP_POLICY = _SMTP.clone(max_line_length=998)  # RFC 5322's limit: headers stay one line


@dataclass
class DeliveryReport:
    """What one delivery pass did: keys sent, keys that failed with why, keys given up on."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)


def smtp_password(cfg: AlertsConfig) -> str | None:
    """The SMTP password from the environment variable named by alerts.password_env."""
    if cfg.username is None:
        return None
    if not cfg.password_env:
        raise ConfigError("alerts.password_env: alerts.username is set, so name the environment "
                          "variable that holds the SMTP password")
    value = os.environ.get(cfg.password_env)
    if value is None:
        raise ConfigError(f"alerts.password_env: the environment variable {cfg.password_env} "
                          "is not set")
    return value


def connect(cfg: AlertsConfig, password: str | None, cafile: str | None = None) -> smtplib.SMTP:
    """An SMTP session over TLS, STARTTLS or plain, logged in when a username is set."""
    context = ssl.create_default_context(cafile=cafile)
    smtp: smtplib.SMTP
    if cfg.security == "tls":
        smtp = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout,
                                context=context)
    else:
        smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout)
    try:
        smtp.ehlo()
        if cfg.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.username is not None:
            smtp.login(cfg.username, password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def build_message(alert: Alert, cfg: AlertsConfig, blobs: BlobStore) -> EmailMessage:
    """The email of an alert: plain text and HTML alternatives, original documents attached."""
    # No folding below 998 characters: a folded encoded Subject reads with a leading space in
    # some clients.
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = alert.subject.strip()
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = format_datetime(datetime.now(SAO_PAULO))  # a real offset: -0300
    msg["Message-ID"] = alert.message_id
    msg["X-Confere-Alert"] = alert.dedupe_key
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(alert.body_text)
    msg.add_alternative(alert.body_html, subtype="html")
    for doc in json.loads(alert.attachments):
        try:
            data = blobs.get(doc["sha256"])
        except FileNotFoundError:
            log.warning("alert %s: attachment %s is missing from the blob store",
                        alert.dedupe_key, doc["filename"])
            continue
        maintype, _, subtype = (doc.get("content_type") or "").partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=doc["filename"])
    return msg


def _claim(engine: Engine, alert_id: int, now: datetime) -> Alert | None:
    """Take a due row for this pass (lease and attempt count), or None if another did."""
    with Session(engine, expire_on_commit=False) as s:
        taken = s.execute(update(Alert).where(
            Alert.id == alert_id, Alert.status == "pending", Alert.next_attempt_at <= now,
        ).values(next_attempt_at=now + LEASE, attempts=Alert.attempts + 1)).rowcount
        s.commit()
        return s.get(Alert, alert_id) if taken == 1 else None


def _mark_sent(engine: Engine, alert: Alert) -> None:
    with Session(engine) as s:
        s.execute(update(Alert).where(Alert.id == alert.id).values(
            status="sent", sent_at=utcnow(), last_error=None))
        s.commit()


def _mark_failed(engine: Engine, alert: Alert, error: str, cfg: AlertsConfig,
                 now: datetime) -> bool:
    """Record a failed try; True when that was the last one allowed."""
    last = alert.attempts >= cfg.max_attempts
    delay = min(cfg.backoff * 2 ** max(alert.attempts - 1, 0), cfg.backoff_max)
    with Session(engine) as s:
        s.execute(update(Alert).where(Alert.id == alert.id).values(
            last_error=error[:2000], next_attempt_at=now + timedelta(seconds=delay),
            status="failed" if last else "pending"))
        s.commit()
    return last


def due_ids(engine: Engine, now: datetime, limit: int | None = None) -> list[int]:
    """Pending alerts whose next attempt is due, oldest first."""
    with Session(engine) as s:
        query = (select(Alert.id).where(Alert.status == "pending", Alert.next_attempt_at <= now)
                 .order_by(Alert.id))
        return list(s.exec(query.limit(limit) if limit else query).all())


def deliver_pending(engine: Engine, config: Config, *, now: datetime | None = None,
                    limit: int | None = None) -> DeliveryReport:
    """Send every due alert over one SMTP session; failures wait their backoff and stay queued."""
    now = now or utcnow()
    cfg = config.settings.alerts
    report = DeliveryReport()
    ids = due_ids(engine, now, limit)
    if not ids:
        return report
    if not cfg.to:
        raise ConfigError("alerts.to: no recipients configured; alerts stay in the outbox")
    password = smtp_password(cfg)
    cafile = str(config.base_dir / cfg.ca_bundle) if cfg.ca_bundle else None
    blobs = BlobStore(config.blob_dir)
    smtp: smtplib.SMTP | None = None
    down: str | None = None  # once the server cannot be reached, the rest of the pass waits
    try:
        for alert_id in ids:
            alert = _claim(engine, alert_id, now)
            if alert is None:
                continue
            error = down
            if error is None:
                try:
                    if smtp is None:
                        smtp = connect(cfg, password, cafile)
                    refused = smtp.send_message(build_message(alert, cfg, blobs))
                    if refused:
                        log.warning("alert %s: refused for %s", alert.dedupe_key,
                                    ", ".join(sorted(refused)))
                except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
                    error = down = f"cannot reach {cfg.smtp_host}:{cfg.smtp_port}: {exc}"
                    smtp = None
                except smtplib.SMTPException as exc:
                    error = f"{type(exc).__name__}: {exc}"
            if error is None:
                _mark_sent(engine, alert)
                report.sent.append(alert.dedupe_key)
                log.info("alert %s sent (%s)", alert.dedupe_key, alert.message_id)
                continue
            report.failed.append((alert.dedupe_key, error))
            log.warning("alert %s not sent (try %d): %s", alert.dedupe_key, alert.attempts, error)
            if _mark_failed(engine, alert, error, cfg, now):
                report.gave_up.append(alert.dedupe_key)
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return report


def retry_failed(engine: Engine) -> int:
    """Put alerts that used up their tries back in the queue; returns how many."""
    with Session(engine) as s:
        count = s.execute(update(Alert).where(Alert.status == "failed").values(
            status="pending", attempts=0, next_attempt_at=utcnow())).rowcount
        s.commit()
    return count


def run_alerts(engine: Engine, config: Config, today: date | None = None) -> DeliveryReport:
    """The daemon's alert tick: evaluate the time rules (one transaction), then deliver."""
    with Session(engine) as s:
        evaluate_time_rules(s, config, today)
        s.commit()
    return deliver_pending(engine, config)
