"""Configuration (SPEC §8): TOML file, overlaid by `$CREDENTIALS_DIRECTORY` files, overlaid by
`PAYWATCH_<SECTION>__<KEY>` environment variables; validated once at start.

Credential files and environment variables use the same names (case-insensitive), and both may
address list items by index: `PAYWATCH_WEBHOOKS__0__SECRET`, or a credential file named
`paywatch_webhooks__0__secret`. A bad key or value is reported as one line naming it (exit 78).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.domain.assets import Asset, AssetError
from shared.domain.event_filters import event_pattern_is_valid
from shared.domain.strkeys import is_account_id

ENV_PREFIX = "PAYWATCH_"
CONFIG_ENV = "PAYWATCH_CONFIG"
DEFAULT_CONFIG_PATHS = (Path("/etc/paywatch/config.toml"), Path("paywatch.toml"))
EX_CONFIG = 78

PASSPHRASES = {
    "testnet": "Test SDF Network ; September 2015",
    "public": "Public Global Stellar Network ; September 2015",
}
DEFAULT_HORIZON = {
    "testnet": ["https://horizon-testnet.stellar.org"],
    "public": ["https://horizon.stellar.org"],
}


class ConfigError(Exception):
    """A configuration problem, already phrased as one line for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Section):
    name: Literal["testnet", "public", "custom"] = "testnet"
    passphrase: str = ""
    horizon_urls: list[str] = Field(default_factory=list)

    @field_validator("horizon_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return [url.rstrip("/") for url in urls]

    @model_validator(mode="after")
    def _defaults(self) -> NetworkSettings:
        if self.name == "custom":
            if not self.passphrase:
                raise ValueError("passphrase is required when name = 'custom'")
            if not self.horizon_urls:
                raise ValueError("horizon_urls is required when name = 'custom'")
            return self
        expected = PASSPHRASES[self.name]
        if self.passphrase and self.passphrase != expected:
            raise ValueError(f"passphrase does not match the {self.name} network (leave it empty)")
        object.__setattr__(self, "passphrase", expected)
        if not self.horizon_urls:
            object.__setattr__(self, "horizon_urls", DEFAULT_HORIZON[self.name])
        return self


class DatabaseSettings(_Section):
    # A PostgreSQL URL may carry a password, so the whole URL is treated as a secret.
    url: SecretStr = SecretStr("sqlite:///paywatch.db")

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: SecretStr) -> SecretStr:
        scheme = urlsplit(url.get_secret_value()).scheme
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_secret_value().startswith("sqlite:")


class AccountSettings(_Section):
    address: str
    default: bool = False

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not is_account_id(value):
            raise ValueError("not a valid Stellar account address (G…, with a correct checksum)")
        return value


class AssetSettings(_Section):
    native: bool = False
    code: str | None = None
    issuer: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> AssetSettings:
        if self.native:
            if self.code is not None or self.issuer is not None:
                raise ValueError("a native asset takes no code or issuer")
            return self
        if self.code is None or self.issuer is None:
            raise ValueError("a credit asset needs both code and issuer (anyone can issue a token by a code)")
        try:
            Asset.credit(self.code, self.issuer)
        except AssetError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def asset(self) -> Asset:
        if self.native:
            return Asset.native()
        assert self.code is not None
        assert self.issuer is not None
        return Asset.credit(self.code, self.issuer)


class PaymentsSettings(_Section):
    timeout_minutes: int = Field(30, ge=1, le=60 * 24 * 365)
    late_window_minutes: int = Field(1440, ge=0, le=60 * 24 * 365)
    underpayment_tolerance_percent: Decimal = Field(Decimal(0), ge=0, lt=100)
    accept_late: bool = False
    allow_any_destination: bool = False
    memo_type: Literal["id", "text"] = "id"
    muxed: bool = True

    @field_validator("underpayment_tolerance_percent", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        if isinstance(value, float):  # only reachable from code: TOML floats are parsed as Decimal
            raise ValueError("must be given as a decimal, not a float")
        return value


class WatcherSettings(_Section):
    mode: Literal["accounts", "network", "auto"] = "auto"
    request_budget_per_hour: int = Field(3600, ge=60)
    stream_silence_seconds: float = Field(90, gt=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535)
    poll_interval_seconds: float = Field(0.25, gt=0, le=5)
    heartbeat_seconds: float = Field(5, gt=0)
    backfill_margin_seconds: int = Field(300, ge=0)
    reconnect_max_seconds: float = Field(60, gt=0)
    expiry_check_seconds: float = Field(5, gt=0, le=300)
    not_found_retry_seconds: float = Field(30, gt=0, le=3600)
    leader_lease_seconds: float = Field(6, ge=0.5, le=300)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = ""  # how buyers reach the API (for pay_url); empty: http://host:port

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str) -> str:
        if not url:
            return url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL, e.g. https://pay.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return url.rstrip("/")

    @property
    def base_url(self) -> str:
        """Where buyers reach the hosted pages: `public_url`, else http://host:port."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


# Endpoint names appear in metrics labels and the API: short, and never the URL itself.
WEBHOOK_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,39}$"


class WebhookSettings(_Section):
    """One outbound webhook endpoint ([[webhooks]]). Its identity in the store is `name`."""

    # Default: derived from the URL ("webhook-" + 8 hex digits of its SHA-256), so that a changed URL is
    # a new endpoint; give a name to keep the identity (and the delivery history) across URL changes.
    name: str = ""
    url: str
    secret: SecretStr
    # Rotation: deliveries are signed with `secret` and each of these (newest first); receivers accept any.
    previous_secrets: list[SecretStr] = Field(default_factory=list, max_length=4)
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    max_in_flight: int = Field(4, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return url

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: SecretStr) -> SecretStr:
        if not secret.get_secret_value().startswith("whsec_"):
            raise ValueError("must be a Standard Webhooks secret starting with 'whsec_'")
        return secret

    @field_validator("previous_secrets")
    @classmethod
    def _previous(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        for secret in secrets:
            cls._secret(secret)
        return secrets

    @field_validator("events")
    @classmethod
    def _events(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not event_pattern_is_valid(pattern):
                raise ValueError(
                    f"{pattern!r} matches no event type (use '*', 'payment.*' or a type such as "
                    "'payment.confirmed')"
                )
        return patterns

    @model_validator(mode="after")
    def _name(self) -> WebhookSettings:
        if not self.name:
            digest = hashlib.sha256(self.url.encode()).hexdigest()[:8]
            object.__setattr__(self, "name", f"webhook-{digest}")
        elif not re.fullmatch(WEBHOOK_NAME_PATTERN, self.name):
            raise ValueError("name must be 1-40 characters of a-z, 0-9, '.', '_' or '-'")
        return self

    @property
    def signing_secrets(self) -> list[str]:
        """Every secret to sign with, the current one first."""
        return [self.secret.get_secret_value(), *(s.get_secret_value() for s in self.previous_secrets)]


class WebhookDeliverySettings(_Section):
    """How the watcher delivers webhooks ([webhook_delivery]); shared by every endpoint."""

    timeout_seconds: float = Field(15, gt=0, le=120)
    # Delay after the 1st, 2nd, … failed attempt; the last one repeats until retry_for_hours is spent.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0],
        min_length=1,
    )
    retry_for_hours: float = Field(72, gt=0, le=24 * 30)
    # Each delay is drawn from [delay × (1 − jitter), delay], so that retries after an outage spread out.
    retry_jitter: float = Field(0.2, ge=0, lt=1)
    # How often the dispatcher looks for due deliveries (new events, retries, redeliveries).
    poll_interval_seconds: float = Field(0.5, gt=0, le=60)

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _schedule(cls, delays: list[float]) -> list[float]:
        if any(delay <= 0 for delay in delays):
            raise ValueError("every delay must be more than 0 seconds")
        return delays


class InboundWebhookSettings(_Section):
    secret: SecretStr = SecretStr("")


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console", "journal"] = "auto"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    network: NetworkSettings = NetworkSettings()
    database: DatabaseSettings = DatabaseSettings()
    accounts: list[AccountSettings] = Field(default_factory=list)
    assets: dict[str, AssetSettings] = Field(default_factory=lambda: {"XLM": AssetSettings(native=True)})
    payments: PaymentsSettings = PaymentsSettings()
    watcher: WatcherSettings = WatcherSettings()
    api: ApiSettings = ApiSettings()
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    webhook_delivery: WebhookDeliverySettings = WebhookDeliverySettings()
    inbound_webhook: InboundWebhookSettings = InboundWebhookSettings()
    logging: LoggingSettings = LoggingSettings()
    # Where the file came from (for resolving relative SQLite paths); not a TOML key.
    config_path: Path | None = Field(default=None, exclude=True)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, accounts: list[AccountSettings]) -> list[AccountSettings]:
        if not accounts:
            raise ValueError('at least one receiving account is required ([[accounts]] address = "G…")')
        defaults = [a for a in accounts if a.default]
        if len(defaults) > 1:
            raise ValueError("only one account may be default = true")
        addresses = [a.address for a in accounts]
        if len(set(addresses)) != len(addresses):
            raise ValueError("an account is listed twice")
        return accounts

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, webhooks: list[WebhookSettings]) -> list[WebhookSettings]:
        names = [w.name for w in webhooks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"two endpoints are named {duplicates[0]!r} (names, or URLs without a name, must differ)"
            )
        return webhooks

    @field_validator("assets")
    @classmethod
    def _assets(cls, assets: dict[str, AssetSettings]) -> dict[str, AssetSettings]:
        if not assets:
            raise ValueError("at least one asset is required")
        for name in assets:
            if not name or not name.replace("_", "").replace("-", "").isalnum() or len(name) > 32:
                raise ValueError(f"asset name {name!r} must be letters, digits, '-' or '_'")
        seen: dict[Asset, str] = {}
        for name, asset in assets.items():
            if asset.asset in seen:
                raise ValueError(f"assets {seen[asset.asset]!r} and {name!r} are the same asset")
            seen[asset.asset] = name
        return assets

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments (tests, `paywatch init`) win; otherwise the layered file/credential/env data.
        return (init_settings, _LayeredSource(settings_cls))

    # -- derived values -------------------------------------------------------------------------
    @property
    def default_account(self) -> str:
        for account in self.accounts:
            if account.default:
                return account.address
        return self.accounts[0].address

    @property
    def account_addresses(self) -> list[str]:
        return [a.address for a in self.accounts]

    def asset_named(self, name: str) -> Asset | None:
        settings = self.assets.get(name)
        return settings.asset if settings is not None else None

    def asset_name(self, asset: Asset) -> str | None:
        for name, settings in self.assets.items():
            if settings.asset == asset:
                return name
        return None

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the config file's folder."""
        url = self.database.url.get_secret_value()
        prefix = "sqlite:///"
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if path and path != ":memory:" and not Path(path).is_absolute() and self.config_path is not None:
                return prefix + str((self.config_path.parent / path).resolve())
        return url


# --- loading ----------------------------------------------------------------------------------


_LAYERED_DATA: ContextVar[dict[str, Any] | None] = ContextVar("paywatch_layered_config", default=None)


class _LayeredSource(PydanticBaseSettingsSource):
    """TOML data, then credential files, then environment variables, merged key by key by load_settings."""

    def _data(self) -> dict[str, Any]:
        return _LAYERED_DATA.get() or {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data()


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """--config, else $PAYWATCH_CONFIG, else /etc/paywatch/config.toml if it exists, else ./paywatch.toml."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.exists():
            return candidate
    return DEFAULT_CONFIG_PATHS[-1]


def _set_path(data: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{origin}: no list item {part} in {'.'.join(path[:i]) or 'config'}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {'.'.join(path[:i])} is not a section")
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})


def _overlay_value(raw: str) -> Any:
    stripped = raw.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped, parse_float=Decimal)
        except json.JSONDecodeError:
            return raw
    return raw


def _overlay(data: dict[str, Any], entries: dict[str, str], origin: str) -> None:
    for name, raw in sorted(entries.items()):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue  # e.g. PAYWATCH_CONFIG, PAYWATCH_TEST_*: not configuration keys
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        _set_path(data, path, _overlay_value(raw), f"{origin} {name}")


def _credentials(directory: str | None) -> dict[str, str]:
    if not directory:
        return {}
    found: dict[str, str] = {}
    root = Path(directory)
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        if entry.is_file() and entry.name.upper().startswith(ENV_PREFIX):
            found[entry.name.upper()] = entry.read_text().rstrip("\n")
    return found


def _describe(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in error["loc"]) or "config"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{location}: {message}"


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    require_file: bool = True,
) -> Settings:
    """Load and validate the configuration; raises ConfigError with a one-line message."""
    env = dict(os.environ if environ is None else environ)
    path = resolve_config_path(config_path)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    elif require_file:
        raise ConfigError(f"{path}: no such config file (run `paywatch init` to write one)")
    _overlay(data, _credentials(env.get("CREDENTIALS_DIRECTORY")), "credential")
    _overlay(data, {k: v for k, v in env.items() if k.upper().startswith(ENV_PREFIX)}, "environment")
    data["config_path"] = path.resolve() if path.exists() else None

    token = _LAYERED_DATA.set(data)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    finally:
        _LAYERED_DATA.reset(token)
