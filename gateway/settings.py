"""Configuration: one YAML file, overridden by environment variables.

Why: an admin reads and edits YAML; a deployment injects secrets and URLs through the
environment (``CG_SECTION__KEY``, plus the conventional ``DATABASE_URL`` and ``AMQP_URL``).
Every problem is reported with the file, the key and what is wrong, and secrets never appear in
messages or logs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.errors import ConfigError as ConfigError  # re-exported: callers catch it here
from gateway.secrets_check import weak_key_reason
from gateway.yamlfile import read_yaml

ENV_PREFIX = "CG_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    shutdown_timeout_seconds: float = Field(10.0, gt=0)


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///var/contact-gateway.sqlite3"
    migrate_on_start: bool = True
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    pool_size: int = Field(10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class AmqpSettings(Section):
    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    prefix: str = "cg"
    publish_timeout_seconds: float = Field(5.0, gt=0)
    # AMQP heartbeat: a frozen or cut-off instance loses its connection (and the router slot
    # with it) after about two missed beats, so a standby takes over within seconds.
    heartbeat_seconds: int = Field(2, ge=1, le=60)

    @field_validator("prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", value):
            raise ValueError("use 1-63 characters: lower-case letters, digits, '.', '_', '-'")
        return value


class SecuritySettings(Section):
    secret_key: SecretStr = Field(default=SecretStr(""))
    secure_cookies: bool = False
    session_hours: float = Field(12.0, gt=0)
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    # Failed sign-ins only (a success costs nothing): a burst, then one more per refill period;
    # per account, and per client address with more room (staff share addresses behind NAT).
    login_failures_per_account: int = Field(5, ge=1)
    login_account_refill_seconds: float = Field(10.0, gt=0)
    login_failures_per_address: int = Field(30, ge=1)
    login_address_refill_seconds: float = Field(2.0, gt=0)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (set CG_SECURITY__SECRET_KEY)")
        return value


class WebchatSettings(Section):
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    max_frame_bytes: int = Field(16_384, ge=256, le=1_048_576)
    max_text_chars: int = Field(4_000, ge=1, le=100_000)
    # Frames per visitor, across all of their sockets (tabs), on this instance.
    rate_per_second: float = Field(5.0, gt=0)
    burst: int = Field(20, ge=1)
    # Frames per client address, across all visitors there (many share an office's address):
    # 10x the visitor's limits unless set.
    address_rate_per_second: float | None = Field(None, gt=0)
    address_burst: int | None = Field(None, ge=1)
    heartbeat_seconds: float = Field(20.0, gt=0)


class RoutingSettings(Section):
    queue: str = "general"
    rules_file: str | None = None  # skills, queues and rules (config/routing.yaml)
    chat_capacity: int = Field(3, ge=1, le=50)
    offer_timeout_seconds: float = Field(30.0, gt=0)
    operator_stale_seconds: float = Field(8.0, gt=0)
    presence_interval_seconds: float = Field(2.0, gt=0)
    # An operator offline this long gives their open conversations back to routing: long
    # enough for a page reload, short enough that a customer is not left alone.
    reassign_after_seconds: float = Field(5.0, gt=0)
    # The server pings each console socket this often; one that does not answer within half
    # of it is closed, so a silently dropped connection counts as gone within 1.5x this.
    operator_heartbeat_seconds: float = Field(2.0, gt=0)
    tick_seconds: float = Field(1.0, gt=0)
    # An operator who lets this many offers in a row time out is set away.
    away_after_missed: int = Field(3, ge=1, le=100)
    # Service level: the share of contacts an operator accepted within this many seconds.
    service_level_seconds: float = Field(60.0, gt=0)


class TwilioSettings(Section):
    """SMS and WhatsApp through Twilio Messaging. The channel is on when ``account_sid`` is set.

    Webhooks are checked against ``http.public_url`` (the address Twilio calls), never against
    the Host header of the request."""

    account_sid: str | None = Field(None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr | None = None
    # Replies go from the messaging service when set, else from the number the customer wrote to.
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    sms_from: str | None = None
    whatsapp_from: str | None = None
    api_base_url: str = "https://api.twilio.com"
    default_region: str = Field("US", pattern=r"^[A-Z]{2}$")  # for numbers without a +
    request_timeout_seconds: float = Field(10.0, gt=0)
    retry_delays_seconds: tuple[float, ...] = (2.0, 10.0, 60.0, 300.0, 900.0)
    # Media (MMS, WhatsApp files) up to this size is fetched and kept; larger is listed.
    max_media_bytes: int = Field(5 * 1024 * 1024, ge=0)

    @property
    def enabled(self) -> bool:
        return self.account_sid is not None

    @model_validator(mode="after")
    def _token_with_sid(self) -> TwilioSettings:
        if self.account_sid and self.auth_token is None:
            raise ValueError("auth_token is required with account_sid")
        if any(d <= 0 for d in self.retry_delays_seconds) or not self.retry_delays_seconds:
            raise ValueError("retry_delays_seconds must be one or more positive numbers")
        return self


class TelegramSettings(Section):
    """A Telegram bot. The channel is on when ``bot_token`` is set.

    ``webhook``: Telegram calls ``http.public_url`` + /webhooks/telegram with the secret token
    header. ``polling``: the gateway asks Telegram for updates itself, for development without a
    public URL (one instance only; Telegram allows one poller per bot)."""

    bot_token: SecretStr | None = None
    mode: Literal["webhook", "polling"] = "webhook"
    webhook_secret: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org/bot"
    default_region: str = Field("US", pattern=r"^[A-Z]{2}$")  # for shared contacts without +
    polling_timeout_seconds: int = Field(25, ge=0, le=50)
    retry_delays_seconds: tuple[float, ...] = (2.0, 10.0, 60.0, 300.0, 900.0)
    # Photos and documents up to this size are fetched and kept (the Bot API serves 20 MB).
    max_media_bytes: int = Field(5 * 1024 * 1024, ge=0, le=20 * 1024 * 1024)

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None

    @model_validator(mode="after")
    def _secret_for_webhooks(self) -> TelegramSettings:
        if self.bot_token and self.mode == "webhook":
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
                raise ValueError(
                    "webhook_secret is required in webhook mode: 16-256 characters of "
                    "A-Z, a-z, 0-9, _ and -"
                )
        if any(d <= 0 for d in self.retry_delays_seconds) or not self.retry_delays_seconds:
            raise ValueError("retry_delays_seconds must be one or more positive numbers")
        return self


class EmailSettings(Section):
    """Email: an SMTP server inside the gateway for mail to the support address, and a relay
    for replies. Mail for ``<address>@<domain>`` (and ``<address>+anything@<domain>``) is taken."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    domain: str = Field("support.example.com", pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")
    address: str = Field("support", pattern=r"^[a-z0-9._-]{1,64}$")
    display_name: str = "Customer Support"
    max_message_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_recipients: int = Field(20, ge=1, le=1000)
    # Attachments up to this size are kept (and shown to operators); larger ones are listed.
    max_attachment_bytes: int = Field(5 * 1024 * 1024, ge=0)
    timeout_seconds: float = Field(60.0, gt=0)
    # STARTTLS is offered when both files are given; AUTH is required when a username is set,
    # and offered only after STARTTLS unless ``auth_allow_plaintext`` says otherwise.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    auth_allow_plaintext: bool = False
    relay_host: str = "127.0.0.1"
    relay_port: int = Field(25, ge=1, le=65535)
    relay_username: str | None = None
    relay_password: SecretStr | None = None
    relay_starttls: bool = False
    relay_timeout_seconds: float = Field(30.0, gt=0)
    retry_delays_seconds: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)

    @property
    def support_address(self) -> str:
        return f"{self.address}@{self.domain}"

    @model_validator(mode="after")
    def _pairs(self) -> EmailSettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.auth_username and self.auth_password is None:
            raise ValueError("auth_password is required with auth_username")
        if self.auth_username and not self.tls_cert_file and not self.auth_allow_plaintext:
            raise ValueError(
                "auth_username needs tls_cert_file and tls_key_file (AUTH is offered only after"
                " STARTTLS), or auth_allow_plaintext: true to send passwords unencrypted"
            )
        if any(d <= 0 for d in self.retry_delays_seconds) or not self.retry_delays_seconds:
            raise ValueError("retry_delays_seconds must be one or more positive numbers")
        return self


class DemoUser(Section):
    username: str
    password: SecretStr
    role: Literal["operator", "supervisor", "admin"] = "operator"
    display_name: str = ""


class IvrSettings(Section):
    """IVR menus (config/ivr, docs/ivr.md) and which channels they answer.

    ``channels`` maps a channel to the menu its new contacts go through first, e.g.
    ``{voice: main, sms: main}``; a channel not listed goes straight to routing. Voice calls
    come in through Twilio (the ``twilio`` section's account). Which channels can have a menu
    is the channel registry's to say (checked by ``contact-gateway`` and ``create_app``)."""

    directory: str | None = None
    channels: dict[str, str] = {}
    # Said (voice) when the gateway cannot serve the menu (database or broker away); the
    # caller can leave a message, which Twilio keeps and reports when we are back.
    apology: str = (
        "We are sorry, we cannot take your call right now. Please leave a message after the "
        "tone, and we will call you back."
    )
    hold_music_url: str = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
    hold_announce_seconds: float = Field(30.0, ge=5)  # how often waiting callers hear news
    callback_key: str = Field("1", pattern=r"^[0-9*#]$")  # pressed while waiting: call me back
    voice_languages: dict[str, str] = {"en": "en-US", "es": "es-US", "de": "de-DE"}
    text_session_hours: float = Field(24.0, gt=0)  # a text customer silent longer starts over


class AppealsSettings(Section):
    """Appeals (docs/appeals.md): the topics file is imported as the topics in force whenever
    its content changes; admins change topics live through /api/admin/topics. Staff alerts (a
    stage deadline missed where the topic says ``notify``) are pushed to the supervisors'
    consoles and mailed to ``staff_emails`` through the email relay when the email channel is
    enabled; they are held until the topic's calendar opens."""

    topics_file: str | None = None  # topics, their forms, stages and SLAs (config/topics.yaml)
    # How often each instance looks for deadlines that passed and notices to retry.
    tick_seconds: float = Field(5.0, gt=0, le=300)
    staff_emails: tuple[str, ...] = ()

    @field_validator("staff_emails")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not _EMAIL.fullmatch(address):
                raise ValueError(f"{address!r} is not an email address like lead@example.com")
        return value


_EMAIL = re.compile(r"[^@\s<>,;\r\n]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class DemoSettings(Section):
    users: tuple[DemoUser, ...] = ()


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    instance_name: str = "gateway"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    amqp: AmqpSettings = AmqpSettings()
    security: SecuritySettings
    webchat: WebchatSettings = WebchatSettings()
    routing: RoutingSettings = RoutingSettings()
    twilio: TwilioSettings = TwilioSettings()
    telegram: TelegramSettings = TelegramSettings()
    email: EmailSettings = EmailSettings()
    ivr: IvrSettings = IvrSettings()
    appeals: AppealsSettings = AppealsSettings()
    demo: DemoSettings = DemoSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init values; the environment must win over it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _no_published_key(self) -> Settings:
        # A demo may run on the demo's key; anything else must have a key nobody else knows.
        if "demo" in self.model_fields_set:
            return self
        reason = weak_key_reason(self.security.secret_key.get_secret_value())
        if reason is not None:
            raise ValueError(
                f"security.secret_key {reason}; it signs web chat visitor tokens, so anyone "
                "who knows it can read customers' conversations. Generate one with "
                "`contact-gateway secret` and set it in CG_SECURITY__SECRET_KEY "
                "(only a configuration with a demo section may use the demo key)"
            )
        return self


def _conventional_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """Apply DATABASE_URL and AMQP_URL, the names every platform already sets."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    if environ.get("DATABASE_URL") and not environ.get(f"{ENV_PREFIX}DATABASE__URL"):
        merged.setdefault("database", {})["url"] = environ["DATABASE_URL"]
    if environ.get("AMQP_URL") and not environ.get(f"{ENV_PREFIX}AMQP__URL"):
        merged.setdefault("amqp", {})["url"] = environ["AMQP_URL"]
    return merged


def _describe(error: Any, source: str, environ: dict[str, str]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    env_name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
    where = f"{source}: {key}" if key else source
    if env_name in environ:
        where += f" (from environment variable {env_name})"
    message = error["msg"]
    if not key:
        message = message.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    return f"{where}: {message}"


def load_settings(path: str | Path | None) -> Settings:
    """Read ``path`` (YAML) and the environment into validated settings or raise ConfigError."""
    env = dict(os.environ)
    source = str(path) if path else "<defaults>"
    data: dict[str, Any] = {}
    if path:
        loaded = read_yaml(path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError([f"{source}: the top level must be a mapping of sections"])
        data = loaded
    data = _conventional_env(data, env)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(err, source, env) for err in exc.errors()]) from None


def mask_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)
