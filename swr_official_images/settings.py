"""Runtime settings: declared once here, read from `SWR_*` variables and an optional `.env` file,
validated, and passed to `create_app` explicitly.

Precedence, highest first: a command-line flag, an environment variable, a line of `.env` in the
working directory, the default below. `.env` is read strictly (`env_file.read_dotenv`). Each field's
`setting(...)` also documents it: the variable's meaning and what it allows feed `serve --help`,
the `config` command, error messages and the docs' configuration table (generated from them by
`make docs-generate`; a test checks it is current).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from swr_official_images.env_file import DotEnvLines, EnvFileError, read_dotenv

ENV_PREFIX = "SWR_"
ENV_FILE = ".env"

# Where a checkout keeps the embedded default: `var/` beside openapi.yaml.
_CHECKOUT = Path(__file__).resolve().parent.parent


def default_database_path() -> Path:
    """The embedded default's SQLite file, an absolute path: `var/official-images.db` in the
    checkout when the service runs from one (an editable install, `make serve`), else in the
    user's data directory. Never relative: a command started in another directory must open the
    same database as the server, not create an empty one there."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "openapi.yaml").is_file():
        return _CHECKOUT / "var" / "official-images.db"
    data = platformdirs.user_data_path("swr-official-images", appauthor=False)
    return data / "official-images.db"


# Resolved once, when the settings are first imported; created (with its folder) on first start.
DEFAULT_DATABASE_URL = f"sqlite:///{default_database_path()}"

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
LogFormat = Literal["json", "human"]


# A master key (SWR_SECRET_KEY, or the key file's content): as many random bytes as the AES-256
# key derived from it, in base64 as `openssl rand -base64 32` prints them and the key file is
# written. Anything else (a phrase, an empty or truncated file) is refused: secrets encrypted
# under a guessable key are as good as plain.
MASTER_KEY_BYTES = 32


def is_master_key(text: str) -> bool:
    """Whether `text` is MASTER_KEY_BYTES bytes in padded base64, either alphabet."""
    try:
        return len(base64.b64decode(text, altchars=b"-_", validate=True)) == MASTER_KEY_BYTES
    except (binascii.Error, ValueError):
        return False


class SettingsError(ValueError):
    """A setting holds a value the service cannot use; the message is one line for an operator."""


def setting(
    default: Any,
    meaning: str,
    allowed: str,
    *,
    flag: str | None = None,
    secret: bool = False,
    **constraints: Any,
) -> Any:
    """A field with its documentation: `meaning` and `allowed` are shown to operators, `flag` is
    the `serve` option that overrides it, `secret` masks it wherever settings are printed."""
    return Field(
        default,
        description=meaning,
        json_schema_extra={"allowed": allowed, "flag": flag, "secret": secret},
        **constraints,
    )


class Settings(BaseSettings):
    """The service's settings. Immutable. Built directly (`Settings(database_url=...)`) it holds
    exactly the values given and the defaults; `Settings.from_env()` reads the environment."""

    # No env_file here: `.env` is read by from_env() alone, strictly (read_dotenv).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        validate_default=True,
    )

    database_url: str = setting(
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL of the store; the SQLite file and its folder are created on first start",
        "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE",
    )
    host: str = setting(
        "127.0.0.1",
        "address `serve` listens on",
        "an IP address or host name",
        flag="--host",
        min_length=1,
    )
    port: int = setting(
        8080,
        "port `serve` listens on",
        "an integer from 0 to 65535; 0 picks any free port",
        flag="--port",
        ge=0,
        le=65535,
    )
    # Response validation re-checks every body against the spec: on in tests, off by default
    # because it costs about a third of the throughput.
    validate_responses: bool = setting(
        False,
        "check every response against the spec (on in the tests; costs throughput)",
        "true or false",
    )
    swagger_ui: bool = setting(
        True, "serve Swagger UI at `/ui/` and the spec at `/openapi.json`", "true or false"
    )
    log_level: LogLevel = setting(
        "INFO",
        "log level; access lines are INFO, so WARNING leaves only problems",
        "CRITICAL, ERROR, WARNING, INFO or DEBUG, in any case",
    )
    log_format: LogFormat = setting(
        "json",
        "`json`: one JSON object per line on stdout; `human`: a readable line for a terminal",
        "json or human, in any case",
    )
    # No token: the metrics name no image and no token, and a scraper need not hold an API token.
    metrics: bool = setting(
        True,
        "serve `/metrics` (Prometheus text format, no token); `false` makes it answer 404",
        "true or false",
    )
    # Browser origins allowed to call the API (CORS); none by default. A comma-separated list in
    # the environment, not JSON (NoDecode).
    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = setting(
        (),
        "comma-separated browser origins allowed to call the API; no CORS headers at all when "
        "unset",
        "origins such as https://console.example.com, separated by commas",
    )
    # Transport limits (swr_official_images.http.transport): a longer request target answers 414,
    # a larger header block 431; a connection that has not sent a complete request head in time
    # is closed.
    max_url_bytes: int = setting(
        8 * 1024,
        "longest request target; longer answers 414",
        "an integer from 256 to 1048576",
        ge=256,
        le=1024 * 1024,
    )
    max_header_bytes: int = setting(
        32 * 1024,
        "largest header block, counted as it arrives; larger answers 431",
        "an integer from 1024 to 1048576",
        ge=1024,
        le=1024 * 1024,
    )
    request_head_timeout: float = setting(
        10.0,
        "seconds a connection may take to send a complete request head",
        "a number of seconds above 0, at most 3600 (e.g. 2.5)",
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    # A connection on which neither side has made progress for this long is closed, whatever
    # state it is in; a response the server is still working on is not idle.
    idle_timeout: float = setting(
        15.0,
        "seconds without progress in either direction after which a connection is closed, "
        "whatever its state",
        "a number of seconds above 0, at most 3600 (e.g. 2.5)",
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed; none by default, so that
    # no client chooses the address the log records. A comma-separated list, not JSON.
    forwarded_allow_ips: Annotated[tuple[str, ...], NoDecode] = setting(
        (),
        "comma-separated addresses or networks of the proxies whose `X-Forwarded-For` and "
        "`X-Forwarded-Proto` are believed; nobody's when unset",
        "IP addresses or networks such as 10.0.0.0/8, separated by commas",
    )
    # More than one process wants PostgreSQL.
    workers: int = setting(
        1, "server processes `serve` runs", "an integer from 1 to 64", flag="--workers", ge=1, le=64
    )
    # With several workers, uvicorn's supervisor replaces a worker that does not answer its
    # health check in time. A new worker answers only once its interpreter has started and
    # imported the service: on a busy host that takes longer than uvicorn's 5 s, and workers
    # would be replaced as they start, for ever.
    worker_healthcheck_timeout: int = setting(
        30,
        "seconds a worker process (of several) may take to answer the supervisor's health check, "
        "at start and later, before it is replaced",
        "an integer from 1 to 3600 (seconds)",
        ge=1,
        le=3600,
    )
    # PostgreSQL: connections each process keeps open, and how long one statement may run (a
    # request must not hang on a stuck database). SQLite uses neither.
    db_pool_size: int = setting(
        5,
        "PostgreSQL connections each process keeps open, and uses at most, for its threads; as "
        "many again for the images it reads on the event loop",
        "an integer from 1 to 100",
        ge=1,
        le=100,
    )
    db_statement_timeout_ms: int = setting(
        5000,
        "PostgreSQL: longest a request's statement may run",
        "an integer from 1 to 3600000 (milliseconds)",
        ge=1,
        le=3_600_000,
    )
    # The statement timeout is enforced by the database, so it cannot fire when the statement
    # never reaches it (a proxy that stops forwarding, a frozen backend, a dead network path):
    # the server bounds its own waits too.
    db_connect_timeout: int = setting(
        5,
        "PostgreSQL: longest opening a connection may take",
        "an integer from 2 to 600 (seconds)",
        ge=2,
        le=600,
    )
    db_read_timeout_ms: int = setting(
        10_000,
        "PostgreSQL: longest a request waits for the database's answer to one statement, commit "
        "or connection check before it drops the connection; above `SWR_DB_STATEMENT_TIMEOUT_MS`, "
        "so that the database's own limit answers first",
        "an integer from 1 to 3600000 (milliseconds), above SWR_DB_STATEMENT_TIMEOUT_MS",
        ge=1,
        le=3_600_000,
    )
    # /readyz gives up on a store that does not answer: a probe must answer in time.
    readiness_timeout_ms: int = setting(
        2000,
        "longest `/readyz` waits for the store before it answers 503",
        "an integer from 1 to 60000 (milliseconds)",
        ge=1,
        le=60_000,
    )
    # Graceful shutdown (swr_official_images.ops.shutdown): after the stop signal, /readyz answers
    # 503 and requests are still served for the drain; then the listener closes and the requests in
    # flight have the grace to finish.
    shutdown_drain: float = setting(
        0.0,
        "seconds between the stop signal and closing the listener, while `/readyz` answers 503 "
        "and requests are still served",
        "a number of seconds from 0 to 3600 (e.g. 2.5)",
        ge=0,
        le=3600,
        allow_inf_nan=False,
    )
    shutdown_grace: float = setting(
        20.0,
        "seconds the requests in flight have to finish once the listener is closed",
        "a number of seconds from 0 to 3600 (e.g. 2.5)",
        ge=0,
        le=3600,
        allow_inf_nan=False,
    )

    # The master key that encrypts AK/SK secrets. Unset on a SQLite file, a key file beside the
    # database is created on first start; on PostgreSQL, unset means no AK/SK signing.
    secret_key: SecretStr | None = setting(
        None,
        "master key that encrypts the AK/SK secrets; when unset, a SQLite store uses a key file "
        "beside the database (created on first start, mode 0600) and PostgreSQL has no AK/SK "
        "signing",
        "32 random bytes in base64 (44 characters), e.g. from `openssl rand -base64 32`",
        secret=True,
    )

    # Per-process caches in front of the stores (swr_official_images.store.cached_stores). The
    # time-to-live bounds how late a process sees a change made through another: a revoked
    # token, an import.
    cache_ttl: float = setting(
        0.5,
        "seconds a cached token or image (found or not) may be used; 0 turns the caches off",
        "a number of seconds from 0 to 1 (e.g. 0.5)",
        ge=0,
        le=1,
        allow_inf_nan=False,
    )
    image_cache_size: int = setting(
        10_000,
        "images each process keeps cached (about 1 KB each), besides up to 1024 names not found",
        "an integer from 0 to 1000000; 0 caches none",
        ge=0,
        le=1_000_000,
    )
    token_cache_size: int = setting(
        1_000,
        "tokens each process keeps cached, besides up to 1024 refused ones",
        "an integer from 0 to 100000; 0 caches none",
        ge=0,
        le=100_000,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Built directly, settings are what the code says: a developer's SWR_* variables or .env
        # must not leak into a test's app. from_env() is the one way in for the environment.
        return (init_settings,)

    @model_validator(mode="after")
    def _read_timeout_above_statement_timeout(self) -> Settings:
        # Otherwise a slow statement would be cut off by the client, which learns nothing,
        # instead of by the database, which says why.
        if self.db_read_timeout_ms <= self.db_statement_timeout_ms:
            raise ValueError(
                f"SWR_DB_READ_TIMEOUT_MS ({self.db_read_timeout_ms}) must be above "
                f"SWR_DB_STATEMENT_TIMEOUT_MS ({self.db_statement_timeout_ms})"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        # The message never repeats the URL: it may hold a password.
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL") from None
        if url.get_backend_name() == "sqlite":
            return value
        if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
            return value
        raise ValueError(f"unsupported database {url.drivername!r}")

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value.
        if value is not None and not is_master_key(value.get_secret_value()):
            raise ValueError("not a master key")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(address.strip() for address in value.split(",") if address.strip())
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError("not an IP address or network") from None
        return value

    @classmethod
    def from_env(cls, env_file: str | Path | None = ENV_FILE, **overrides: object) -> Settings:
        """Settings from `SWR_*` variables and `env_file` (when it exists); keyword overrides
        (e.g. CLI flags; None means not given) win. Raises SettingsError."""
        # Any: these are unvalidated values, which pydantic checks against each field's type.
        given: dict[str, Any] = {
            name: value for name, value in overrides.items() if value is not None
        }
        try:
            dotenv = read_dotenv(Path(env_file)) if env_file is not None else {}
        except EnvFileError as exc:
            raise SettingsError(str(exc)) from None
        # pydantic-settings' own sources map variables to fields (prefix, case, NoDecode), the
        # file's values exactly like the environment's.
        values = {**DotEnvLines(cls, dotenv)(), **EnvSettingsSource(cls)(), **given}
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc, given)) from None

    def sqlite_path(self) -> Path | None:
        """The database file when the store is a SQLite file, else None."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :].split("?", 1)[0])
        return None


@dataclass(frozen=True)
class SettingInfo:
    """One setting as operators see it."""

    name: str
    variable: str
    flag: str | None
    default: Any
    meaning: str
    allowed: str
    secret: bool


def setting_infos(settings_cls: type[Settings] = Settings) -> Iterator[SettingInfo]:
    """Every setting, in declaration order."""
    for name, field in settings_cls.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        yield SettingInfo(
            name=name,
            variable=ENV_PREFIX + name.upper(),
            flag=extra.get("flag"),  # type: ignore[arg-type]
            default=field.default,
            meaning=field.description or "",
            allowed=str(extra.get("allowed", "")),
            secret=bool(extra.get("secret"))
            or SecretStr in (field.annotation, *get_args(field.annotation)),
        )


def _describe(exc: ValidationError, flags: dict[str, object]) -> str:
    infos = {info.name: info for info in setting_infos()}
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        info = infos.get(name)
        problem = error["msg"].removeprefix("Value error, ")
        if info is None:
            lines.append(f"{name or 'settings'}: {problem}")
            continue
        where = info.flag if name in flags and info.flag else info.variable
        problem = problem[:1].lower() + problem[1:]
        lines.append(f"{where}: {problem} (allowed: {info.allowed})")
    return "\n".join(lines)
