"""Runtime settings, read once from the environment and passed to `create_app` explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

# The embedded default: one SQLite file under var/ in the working directory, created on first start.
DEFAULT_DATABASE_URL = "sqlite:///var/official-images.db"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _parse_int(name: str, raw: str, minimum: int, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    # Response validation re-checks every body against the spec: on in tests, off by default
    # because it costs about a third of the throughput.
    validate_responses: bool = False
    # Swagger UI at /ui/ and the spec at /openapi.json; production may switch them off.
    swagger_ui: bool = True
    log_level: str = "INFO"
    # Transport limits (server.http.transport): a longer request target answers 414, a larger header
    # block 431; a connection that has not sent a complete request head in time is closed.
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    request_head_timeout: float = 10.0
    # Browser origins allowed to call the API (CORS); none by default.
    cors_allow_origins: tuple[str, ...] = ()
    # Server processes `serve` starts; more than one wants PostgreSQL.
    workers: int = 1
    # PostgreSQL: connections each process keeps open, and how long one statement may run (a
    # request must not hang on a stuck database). SQLite uses neither.
    db_pool_size: int = 5
    db_statement_timeout_ms: int = 5000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `SWR_*` variables; keyword overrides (e.g. CLI flags) win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if "SWR_DATABASE_URL" in env:
            values["database_url"] = env["SWR_DATABASE_URL"]
        if "SWR_HOST" in env:
            values["host"] = env["SWR_HOST"]
        if "SWR_PORT" in env:
            values["port"] = _parse_int("SWR_PORT", env["SWR_PORT"], 0, 65535)
        if "SWR_VALIDATE_RESPONSES" in env:
            values["validate_responses"] = _parse_bool(
                "SWR_VALIDATE_RESPONSES", env["SWR_VALIDATE_RESPONSES"]
            )
        if "SWR_SWAGGER_UI" in env:
            values["swagger_ui"] = _parse_bool("SWR_SWAGGER_UI", env["SWR_SWAGGER_UI"])
        if "SWR_LOG_LEVEL" in env:
            values["log_level"] = env["SWR_LOG_LEVEL"].upper()
        if "SWR_MAX_URL_BYTES" in env:
            values["max_url_bytes"] = _parse_int(
                "SWR_MAX_URL_BYTES", env["SWR_MAX_URL_BYTES"], 256, 1024 * 1024
            )
        if "SWR_MAX_HEADER_BYTES" in env:
            values["max_header_bytes"] = _parse_int(
                "SWR_MAX_HEADER_BYTES", env["SWR_MAX_HEADER_BYTES"], 1024, 1024 * 1024
            )
        if "SWR_REQUEST_HEAD_TIMEOUT" in env:
            values["request_head_timeout"] = float(
                _parse_int("SWR_REQUEST_HEAD_TIMEOUT", env["SWR_REQUEST_HEAD_TIMEOUT"], 1, 3600)
            )
        if "SWR_CORS_ALLOW_ORIGINS" in env:
            values["cors_allow_origins"] = tuple(
                o.strip() for o in env["SWR_CORS_ALLOW_ORIGINS"].split(",") if o.strip()
            )
        if "SWR_WORKERS" in env:
            values["workers"] = _parse_int("SWR_WORKERS", env["SWR_WORKERS"], 1, 64)
        if "SWR_DB_POOL_SIZE" in env:
            values["db_pool_size"] = _parse_int("SWR_DB_POOL_SIZE", env["SWR_DB_POOL_SIZE"], 1, 100)
        if "SWR_DB_STATEMENT_TIMEOUT_MS" in env:
            values["db_statement_timeout_ms"] = _parse_int(
                "SWR_DB_STATEMENT_TIMEOUT_MS", env["SWR_DB_STATEMENT_TIMEOUT_MS"], 1, 3_600_000
            )
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if k in known and v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def sqlite_path(self) -> Path | None:
        """The database file when the store is a SQLite file, else None."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :].split("?", 1)[0])
        return None
