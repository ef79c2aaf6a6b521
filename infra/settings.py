"""One settings object, built once at start-up from `TATAWWU_*` variables and passed down.

Defaults point at the local stack that `tatawwu infra up` starts; setting
`TATAWWU_KAFKA_BOOTSTRAP` or `TATAWWU_DATABASE_URL` points every component at an
existing cluster instead, and then the local runner starts nothing for it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.ownership import TimeBounds

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LOCAL_KAFKA_PORT = 9092
LOCAL_KAFKA_ADMIN = "admin"
LOCAL_POSTGRES_PORT = 55432
LOCAL_DATABASE_URL = f"postgresql://tatawwu@127.0.0.1:{LOCAL_POSTGRES_PORT}/tatawwu"


class Settings(BaseSettings):
    """Everything that knows hosts, ports and credentials lives here."""

    model_config = SettingsConfigDict(env_prefix="TATAWWU_", extra="ignore")

    # Kafka. Empty bootstrap means "the local stack", which the runner may start.
    kafka_bootstrap: str = ""
    kafka_port: int = LOCAL_KAFKA_PORT
    kafka_brokers: int = Field(default=1, ge=1, le=3)
    # How clients authenticate. Unset protocol: SASL_PLAINTEXT as `admin` on the local
    # stack (its password is read from the cluster's `admin.password`, never from git),
    # PLAINTEXT on an external cluster unless set. Production: SASL_SSL with SCRAM, each
    # process under its own principal, the CA (and a client certificate when the
    # brokers ask for one) from files.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-256"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None  # client certificate (PEM), for mutual TLS
    kafka_ssl_keyfile: Path | None = None  # its private key (PEM)
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    kafka_client_id: str = "tatawwu"

    # PostgreSQL. Empty URL means "the local cluster", which the runner may start.
    database_url: str = ""
    postgres_port: int = LOCAL_POSTGRES_PORT
    db_pool_min: int = 1
    db_pool_max: int = 10

    smtp_url: str = "smtp://127.0.0.1:2525"
    sms_url: str = "http://127.0.0.1:8025/v1/messages"
    sms_api_key: SecretStr = SecretStr("")  # bearer token for the SMS provider, when set
    # The mail service's HTTP API beside its relay, where an erased volunteer's kept emails
    # are deleted (`DELETE <url>/<Message-ID>`; the local sinks serve it). Empty: the relay
    # has none, and keeps its copies until its own retention. SMS are deleted at
    # `DELETE <sms_url>/<provider id>` (consumers/notifications/provider_erasure.py).
    email_api_url: str = "http://127.0.0.1:8025/v1/emails"
    # Notifications (consumers/notifications): who they come from, when SMS may go out
    # (quiet hours in the platform's time zone), how often a failed send is retried, and
    # how old a cause event may be to still notify (older ones, e.g. a replay of history
    # or a first start over an old log, are never sent).
    mail_from: str = "Tatawwu <no-reply@tatawwu.example>"
    sms_sender: str = "Tatawwu"
    notify_timezone: str = "Asia/Qatar"
    notify_quiet_hours: str = "21:00-08:00"  # SMS held until the end; "" for none
    notify_max_attempts: int = 5
    notify_max_age_hours: float = 48.0
    # A cause event timed further ahead than this (clock skew allowed for) notifies
    # nobody: it is suppressed at once (`cause_in_future`) instead of waiting forever.
    notify_max_future_s: float = Field(default=300.0, ge=0)
    # A claimed message not recorded within this long (its sender died) is sent again,
    # under the same idempotency key; the former holder's late result is then discarded
    # (fenced by the claim's lease token).
    notify_lease_s: float = Field(default=60.0, gt=0)
    # Provider rate limits (requests a second, token buckets in the sender).
    notify_sms_per_s: float = Field(default=1000.0, gt=0)
    notify_email_per_s: float = Field(default=1000.0, gt=0)
    # Broadcast speed (consumers/notifications/sender.py): how many rows one sender holds
    # at once (claimed, not yet recorded), open SMTP connections kept (0: one connection
    # per message; 16 keep a relay busy while the sender is busy too), SMS per request to
    # the provider's batch endpoint (1: one request per message, to `sms_url`; the batch
    # URL defaults to `<sms_url>/batch`), and whether a sender extends the leases of the
    # rows it is still working on.
    notify_window: int = Field(default=400, ge=1, le=10_000)
    notify_smtp_connections: int = Field(default=16, ge=0, le=100)
    notify_sms_batch: int = Field(default=100, ge=1, le=1000)
    sms_batch_url: str = ""
    notify_lease_renew: bool = True
    # SMTP transport security: `smtp://` upgrades with STARTTLS whenever the relay offers
    # it; with `smtp_require_tls` a relay that does not offer it gets nothing (the send
    # fails and is retried like any provider error). `smtps://` is implicit TLS. The CA
    # file verifies the relay's certificate (the system's store when empty).
    smtp_require_tls: bool = False
    smtp_ca_file: str = ""
    # Attendance confirmations (consumers/notifications/confirmations.py): asked this many
    # hours before a shift; on an opportunity published with `auto_release`, a place whose
    # volunteer has not answered is released this many hours before it starts. Opportunity
    # alerts honour the quiet hours above on every channel and go at most once a day.
    notify_confirmation_lead_h: float = Field(default=48.0, gt=0)
    notify_release_lead_h: float = Field(default=12.0, ge=0)
    # Retention (README "Retention and minimisation"): a finished ledger row keeps what its
    # text was made from and the provider's error text this many days, then only ids,
    # template, channel, status and times; the local sinks keep the messages they received
    # this long; partners' ingress topics keep records this long (set at creation); a dead
    # letter's payload sealed with the platform key (no volunteer named) is readable this
    # long. Each purge runs every `retention_interval_s`.
    notify_keep_days: float = Field(default=30.0, gt=0)
    sink_keep_days: float = Field(default=7.0, gt=0)
    ingress_retention_days: float = Field(default=7.0, gt=0)
    deadletter_keep_days: float = Field(default=30.0, gt=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)
    # The router deletes the ingress records it has routed this often (infra/ingress.py):
    # a partner's record in clear lives about this long after it is routed.
    ingress_forget_interval_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _asked_before_released(self) -> Self:
        if self.notify_release_lead_h >= self.notify_confirmation_lead_h:
            msg = (
                "notify_release_lead_h must be less than notify_confirmation_lead_h: an "
                "attendance confirmation is asked between the two, before places are released"
            )
            raise ValueError(msg)
        return self

    # Trust boundary (schemas/ownership.py): an event's `time` may be at most this far
    # ahead of the moment it entered (the broker's append time, or now at the gateway),
    # and never before the platform's epoch.
    event_max_skew_s: float = Field(default=300.0, ge=0)
    platform_epoch: dt.datetime = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

    # Where the local stack keeps jars, data and logs (never in git).
    cache_dir: Path = PROJECT_ROOT / ".cache"

    # Personal data (infra/keys.py): personal fields travel encrypted on the canonical
    # topics, one data key per volunteer, wrapped by this master key (32 bytes, base64;
    # e.g. `openssl rand -base64 32`). Unset: the key file, which `tatawwu infra up`
    # makes for the local stack (`<cache_dir>/keys/master.key`, never in git).
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    # Off only for a benchmark's baseline: producers then write personal fields in clear
    # (consumers open encrypted fields either way).
    encrypt_personal: bool = True
    key_cache_size: int = Field(default=200_000, ge=0)  # data keys kept per process
    # Entry points trust a cached key this long: an erasure reaches them within it.
    key_cache_s: float = Field(default=2.0, ge=0)

    @property
    def master_key_path(self) -> Path:
        """Where the master key is read from when `master_key` is unset."""
        return self.master_key_file or self.cache_dir.resolve() / "keys" / "master.key"

    # Where the projectors and the notifier serve `/health`, `/ready` and `/metrics` (on
    # their metrics port, `infra.ops`): loopback keeps them off the network; "0.0.0.0"
    # lets a Prometheus scraper or an orchestrator's probes reach them from elsewhere.
    metrics_host: str = "127.0.0.1"

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @property
    def time_bounds(self) -> TimeBounds:
        """The event-time bounds every entry point and projector applies."""
        return TimeBounds(dt.timedelta(seconds=self.event_max_skew_s), self.platform_epoch)

    @property
    def kafka_protocol(self) -> str:
        """The security protocol in force (see `kafka_security_protocol`)."""
        if self.kafka_security_protocol:
            return self.kafka_security_protocol
        return "PLAINTEXT" if self.kafka_is_external else "SASL_PLAINTEXT"

    @property
    def kafka_username(self) -> str:
        """The SASL principal in force: the configured one, or the local stack's admin."""
        if self.kafka_sasl_username or self.kafka_is_external:
            return self.kafka_sasl_username
        return LOCAL_KAFKA_ADMIN

    def kafka_password(self) -> str:
        """The SASL password: the configured one, or the local cluster's admin password."""
        configured = self.kafka_sasl_password.get_secret_value()
        if configured or self.kafka_is_external or self.kafka_sasl_username:
            return configured
        path = self.local_kafka_home / "admin.password"
        return path.read_text().strip() if path.exists() else ""

    @property
    def local_kafka_home(self) -> Path:
        """Where the local cluster these settings describe keeps its data and secrets."""
        return self.cache_dir.resolve() / "kafka" / f"p{self.kafka_port}x{self.kafka_brokers}"

    @property
    def kafka_is_external(self) -> bool:
        """True when the operator pointed us at a cluster we must not start or stop."""
        return bool(self.kafka_bootstrap)

    @property
    def database_is_external(self) -> bool:
        """True when the operator pointed us at a server we must not start or stop."""
        return bool(self.database_url)

    @property
    def bootstrap_servers(self) -> str:
        """The bootstrap list every Kafka client uses."""
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        ports = range(self.kafka_port, self.kafka_port + self.kafka_brokers)
        return ",".join(f"127.0.0.1:{port}" for port in ports)

    @property
    def dsn(self) -> str:
        """The PostgreSQL URL every pool uses."""
        if self.database_url:
            return self.database_url
        return f"postgresql://tatawwu@127.0.0.1:{self.postgres_port}/tatawwu"

    # --- gateway (producers/gateway) ---
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8081
    gateway_url: str = ""  # how publishers reach the gateway; empty: http://host:port
    gateway_max_batch_events: int = Field(default=1000, ge=1)
    gateway_max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # Per partner key, in requests (a batch of 500 counts once): steady rate and burst.
    gateway_rate_per_s: float = Field(default=100.0, gt=0)
    gateway_rate_burst: int = Field(default=200, ge=1)
    # Per partner key, in events (a batch of 500 takes 500): steady rate and burst. The
    # defaults admit one partner at the gateway's measured ceiling (~48,000 events/s in
    # batches of 500) and cap what the request limit alone allowed (100 x 1,000 events/s).
    gateway_events_per_s: float = Field(default=50_000.0, gt=0)
    gateway_events_burst: int = Field(default=100_000, ge=1)
    gateway_request_timeout_s: float = Field(default=10.0, gt=0)
    gateway_produce_timeout_s: float = Field(default=5.0, gt=0)
    # A verified key is trusted this long without asking PostgreSQL: revocation takes
    # effect within this delay on every gateway process.
    gateway_key_cache_s: float = Field(default=2.0, ge=0)
    # Provider webhooks (producers/gateway/webhooks.py): the secret providers sign with
    # (HMAC-SHA256, infra/webhook_signing.py). Unset: a random one kept in
    # `<cache_dir>/webhook.secret` (mode 0600, never in git), shared by the local gateway
    # and sinks. A signature whose timestamp is further than the tolerance from now is
    # refused, and each nonce is accepted once within twice that window.
    webhook_secret: SecretStr | None = None
    webhook_tolerance_s: float = Field(default=300.0, gt=0)
    # The notifier's schema, where the webhooks look volunteers up by phone, keep consent
    # holds and undeliverable addresses, and leave delivery feedback for the notifier.
    webhook_notifier_schema: str = "notifications"
    # Where the local sinks send receipts, bounces and simulated replies (empty: none),
    # and the numbers whose SMS they fail and the addresses that bounce or complain
    # (comma-separated; the CLI's --fail, --bounce and --complain add to them).
    sink_webhook_url: str = ""
    sink_fail_numbers: str = ""
    sink_bounce_addresses: str = ""
    sink_complain_addresses: str = ""

    def webhook_key(self) -> bytes:
        """The webhook secret: the configured one, or the local stack's (made once)."""
        if self.webhook_secret is not None and self.webhook_secret.get_secret_value():
            return self.webhook_secret.get_secret_value().encode()
        path = self.cache_dir / "webhook.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: of two processes starting together, one writes it
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()

    # --- end gateway ---

    # --- read api (consumers/api) ---
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Disclosure control (consumers/api/DISCLOSURE.md): a count of distinct volunteers (or
    # of check-ins) below this and above 0 is served as null with `suppressed: true`.
    api_min_cell: int = Field(default=10, ge=1)
    # The calendar in which public `as_of` days are counted (consumers/api/days.py).
    api_timezone: str = "Asia/Qatar"
    # Economic value of one verified volunteer hour, in QAR (illustrative default).
    api_hourly_rate_qar: float = Field(default=50.0, ge=0)
    # Bearer tokens that may read volunteers (`GET /v1/volunteers/{id}`, roles in
    # consumers/api/auth.py), stored as SHA-256 hex digests, never in clear (`tatawwu api
    # token` makes one): the admin role's (the whole profile), comma-separated; each
    # organisation's (`org_id=digest`, comma-separated: its own volunteers, minimal fields).
    api_volunteer_token_sha256: str = ""
    api_org_token_sha256: str = ""
    # Cache-Control max-age of aggregate responses; the projections refresh continuously.
    api_cache_max_age_s: int = Field(default=5, ge=0)
    # Identical aggregate requests within this many seconds share one computation
    # (single-flight): every dashboard viewer asking for the KPI costs one query.
    api_memo_s: float = Field(default=1.0, ge=0)
    # A past day's KPI changes only with late facts: its documents are shared this long.
    api_past_memo_s: float = Field(default=60.0, ge=0)
    # The BI views' schema and the read-only role that may SELECT from it (and nothing else).
    api_dashboard_schema: str = "dashboard"
    api_dashboard_role: str = "tatawwu_dashboard"
    # HMAC key of the keyset cursors (at least 16 characters; 32 random bytes, e.g.
    # `openssl rand -base64 32`). Unset: a random key per process, warned at start-up;
    # cursors then die with a restart and do not cross workers.
    cursor_secret: SecretStr | None = None

    @property
    def api_volunteer_token_digests(self) -> frozenset[str]:
        """The SHA-256 hex digests of the tokens with the volunteers scope."""
        parts = (d.strip().lower() for d in self.api_volunteer_token_sha256.split(","))
        return frozenset(d for d in parts if d)

    @property
    def api_org_token_digests(self) -> dict[str, str]:
        """Digest -> organisation, of the tokens with the organisation role."""
        pairs = (p.partition("=") for p in self.api_org_token_sha256.split(","))
        return {d.strip().lower(): org.strip() for org, _, d in pairs if org.strip() and d.strip()}

    # --- end read api ---


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def child_env(settings: Settings) -> dict[str, str]:
    """Environment for a child process so it talks to the same stack as we do."""
    env = dict(os.environ)
    env["TATAWWU_KAFKA_BOOTSTRAP"] = settings.bootstrap_servers
    env["TATAWWU_DATABASE_URL"] = settings.dsn
    env["TATAWWU_KAFKA_SECURITY_PROTOCOL"] = settings.kafka_protocol
    env["TATAWWU_KAFKA_SASL_MECHANISM"] = settings.kafka_sasl_mechanism
    env["TATAWWU_KAFKA_SASL_USERNAME"] = settings.kafka_username
    env["TATAWWU_KAFKA_SASL_PASSWORD"] = settings.kafka_password()
    for name in ("cafile", "certfile", "keyfile"):  # TLS files: SASL_SSL and SSL
        if path := getattr(settings, f"kafka_ssl_{name}"):
            env[f"TATAWWU_KAFKA_SSL_{name.upper()}"] = str(path)
    if settings.kafka_ssl_key_password:
        env["TATAWWU_KAFKA_SSL_KEY_PASSWORD"] = settings.kafka_ssl_key_password.get_secret_value()
    env["TATAWWU_KAFKA_SSL_CHECK_HOSTNAME"] = str(settings.kafka_ssl_check_hostname).lower()
    return env
