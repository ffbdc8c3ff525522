"""Settings: one declarative place, read from SWR_* variables and .env, validated the same way
for variables and flags; a bad value is one line and exit status 2."""

from __future__ import annotations

import importlib.metadata
import re
import time
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

import swr_official_images.settings as settings_module
from swr_official_images.cli import main as cli_main
from swr_official_images.cli.config import display_value
from swr_official_images.settings import (
    DEFAULT_DATABASE_URL,
    SettingInfo,
    Settings,
    SettingsError,
    setting_infos,
)
from tests.conftest import run_cli


def test_built_directly_settings_hold_only_what_the_code_says(monkeypatch, tmp_path):
    monkeypatch.setenv("SWR_PORT", "9000")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SWR_LOG_LEVEL=DEBUG\n", encoding="utf-8")

    settings = Settings(database_url="sqlite:///x.db")

    assert (settings.port, settings.log_level) == (8080, "INFO")


def test_settings_are_immutable():
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_from_env_reads_variables_and_converts_them(monkeypatch):
    monkeypatch.setenv("SWR_PORT", "9000")
    monkeypatch.setenv("SWR_VALIDATE_RESPONSES", "yes")
    monkeypatch.setenv("SWR_LOG_LEVEL", "debug")
    monkeypatch.setenv("SWR_REQUEST_HEAD_TIMEOUT", "2.5")
    monkeypatch.setenv("SWR_CORS_ALLOW_ORIGINS", " https://a.example , https://b.example,")

    settings = Settings.from_env()

    assert settings.port == 9000
    assert settings.validate_responses is True
    assert settings.log_level == "DEBUG"
    assert settings.request_head_timeout == 2.5
    assert settings.cors_allow_origins == ("https://a.example", "https://b.example")
    assert type(settings) is Settings


def test_precedence_flag_then_variable_then_dotenv_then_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "# comments are fine\nSWR_PORT=7000\nSWR_HOST=10.0.0.1\nSWR_WORKERS=3\n", encoding="utf-8"
    )
    monkeypatch.setenv("SWR_HOST", "10.0.0.2")
    monkeypatch.setenv("SWR_WORKERS", "4")

    settings = Settings.from_env(workers="5")

    assert settings.port == 7000  # .env
    assert settings.host == "10.0.0.2"  # variable beats .env
    assert settings.workers == 5  # flag beats both
    assert settings.max_url_bytes == 8192  # default


def test_a_dotenv_value_is_validated_too(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SWR_PORT=eighty\n", encoding="utf-8")

    with pytest.raises(SettingsError, match=r"^SWR_PORT: input should be a valid integer"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SWR_PORT", "70000", "less than or equal to 65535"),
        ("SWR_PORT", "-1", "greater than or equal to 0"),
        ("SWR_PORT", "http", "valid integer"),
        ("SWR_LOG_LEVEL", "verbose", "input should be 'CRITICAL'"),
        ("SWR_WORKERS", "0", "greater than or equal to 1"),
        ("SWR_VALIDATE_RESPONSES", "maybe", "valid boolean"),
        ("SWR_REQUEST_HEAD_TIMEOUT", "0", "greater than 0"),
        ("SWR_REQUEST_HEAD_TIMEOUT", "nan", "finite number"),
        ("SWR_MAX_URL_BYTES", "100", "greater than or equal to 256"),
        ("SWR_DB_POOL_SIZE", "many", "valid integer"),
        ("SWR_DATABASE_URL", "mysql://root:hunter2@db/swr", "unsupported database 'mysql'"),
        ("SWR_DATABASE_URL", "hunter2", "not a database URL"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it_and_what_is_allowed(
    monkeypatch, variable, value, problem
):
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        Settings.from_env()

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{variable}: ") and problem in message, message
    assert re.search(r"\(allowed: [^)]+.*\)$", message), message
    assert "hunter2" not in message


def test_a_read_timeout_not_above_the_statement_timeout_is_refused(monkeypatch):
    # The client would cut off a slow statement before the database could say why.
    monkeypatch.setenv("SWR_DB_STATEMENT_TIMEOUT_MS", "20000")

    with pytest.raises(SettingsError) as caught:
        Settings.from_env()

    assert str(caught.value) == (
        "settings: SWR_DB_READ_TIMEOUT_MS (10000) must be above SWR_DB_STATEMENT_TIMEOUT_MS (20000)"
    )


def test_a_flag_is_validated_like_its_variable_and_named_as_a_flag():
    with pytest.raises(SettingsError, match=r"^--port: input should be less than or equal"):
        Settings.from_env(port="70000")


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["serve", "--port", "70000"], {}, "error: --port: input should be less than or equal"),
        (["serve", "--workers", "0"], {}, "error: --workers: input should be greater"),
        (["serve", "--host", ""], {}, "error: --host: string should have at least 1 character"),
        (["token", "list"], {"SWR_LOG_LEVEL": "verbose"}, "error: SWR_LOG_LEVEL: input should be"),
        (["migrate"], {"SWR_PORT": "70000"}, "error: SWR_PORT: input should be less than"),
    ],
)
def test_the_cli_stops_with_status_2_and_one_line(monkeypatch, tmp_path, argv, env, line):
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    database = tmp_path / "never.db"

    result = run_cli(f"sqlite:///{database}", *argv)

    assert result.code == 2
    assert result.err.startswith(line) and result.err.count("\n") == 1, result.err
    assert "(allowed: " in result.err
    assert not database.exists(), "a bad setting must stop the command before it starts"


def test_serve_help_lists_every_variable(capsys):
    with pytest.raises(SystemExit) as caught:
        cli_main(["serve", "--help"])
    text = capsys.readouterr().out

    assert caught.value.code == 0

    for info in setting_infos():
        assert re.search(rf"^  {info.variable}\b", text, re.MULTILINE), info.variable
        assert info.allowed.split()[0] in text


def test_config_prints_every_effective_setting_with_the_password_masked(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SWR_WORKERS=3\n", encoding="utf-8")
    monkeypatch.setenv("SWR_CORS_ALLOW_ORIGINS", "https://a.example,https://b.example")
    url = "postgresql+psycopg://swr:hunter2@db.internal:5432/swr?password=hunter2&sslmode=require"

    result = run_cli(url, "config")

    assert result.code == 0, result.err
    assert "hunter2" not in result.out + result.err
    printed = dict(line.split("=", 1) for line in result.out.splitlines())
    assert list(printed) == [info.variable for info in setting_infos()]
    assert printed["SWR_DATABASE_URL"] == (
        "postgresql+psycopg://swr:***@db.internal:5432/swr?password=***&sslmode=require"
    )
    assert printed["SWR_WORKERS"] == "3"
    assert printed["SWR_CORS_ALLOW_ORIGINS"] == "https://a.example,https://b.example"
    assert printed["SWR_VALIDATE_RESPONSES"] == "false"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://swr:s3c@r3t@x9q@db.internal:5432/swr",
            "postgresql+psycopg://swr:***@db.internal:5432/swr",
        ),
        (
            "postgresql+psycopg://swr:@s3cr3t@db.internal/swr?sslmode=require",
            "postgresql+psycopg://swr:***@db.internal/swr?sslmode=require",
        ),
        (
            "postgresql+psycopg://swr:hunter2@db.internal/swr",
            "postgresql+psycopg://swr:***@db.internal/swr",
        ),
    ],
)
def test_a_password_with_an_unescaped_at_sign_is_masked_whole(url, shown):
    info = next(info for info in setting_infos() if info.name == "database_url")

    displayed = display_value(info, url)

    assert displayed == shown
    for part in ("s3c", "r3t", "x9q"):
        assert part not in displayed


@pytest.mark.parametrize("value", ["s3cret-value", SecretStr("s3cret-value")])
def test_a_secret_setting_is_masked(value):
    info = SettingInfo(
        name="secret_key",
        variable="SWR_SECRET_KEY",
        flag=None,
        default=None,
        meaning="",
        allowed="",
        secret=True,
    )

    assert display_value(info, value) == "********"
    assert display_value(info, None) == ""


def test_a_secret_str_field_counts_as_secret():
    class WithSecret(Settings):
        secret_key: SecretStr | None = None

    infos = {info.name: info for info in setting_infos(WithSecret)}

    assert infos["secret_key"].secret
    assert not infos["database_url"].secret


def test_version_names_the_service_and_the_spec(capsys, spec):
    with pytest.raises(SystemExit) as caught:
        cli_main(["--version"])

    assert caught.value.code == 0
    version = importlib.metadata.version("swr-official-images")
    expected = f"swr-official-images {version} (API spec {spec['info']['version']})\n"
    assert capsys.readouterr().out == expected


def test_the_default_database_is_one_absolute_path_whatever_the_working_directory(
    monkeypatch, tmp_path
):
    seen = set()
    for directory in (tmp_path / "a", tmp_path / "b"):
        directory.mkdir()
        monkeypatch.chdir(directory)
        path = Settings.from_env().sqlite_path()
        assert path is not None and path.is_absolute(), path
        seen.add(path)
    assert len(seen) == 1
    # From a checkout (as in these tests): beside the project, where `make serve` keeps it.
    assert seen == {Path(__file__).resolve().parents[2] / "var" / "official-images.db"}


def test_outside_a_checkout_the_default_database_is_in_the_user_data_directory(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(settings_module, "_CHECKOUT", tmp_path / "site-packages")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    path = settings_module.default_database_path()

    assert path == tmp_path / "data" / "swr-official-images" / "official-images.db"


def test_config_prints_where_the_default_database_is(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli_main(["config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"SWR_DATABASE_URL={DEFAULT_DATABASE_URL}" in lines
    assert DEFAULT_DATABASE_URL.startswith("sqlite:////"), "an absolute path"


@pytest.mark.parametrize(
    "bad_line",
    [
        "SWR_PORT 8080",  # no '='
        "SWR_WORKERS",  # a name alone
        "=8080",  # no name
        'SWR_DATABASE_URL="postgresql+psycopg://swr:hunter2@db/swr',  # quote never closed
        "SWR_HOST='10.0.0.1' hunter2",  # something after the closing quote
        "hunter2 is the password",
    ],
)
def test_a_malformed_dotenv_line_stops_the_cli_with_status_2_naming_the_file_and_line(
    monkeypatch, tmp_path, bad_line
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        f"# settings\n\n{bad_line}\nSWR_LOG_LEVEL=DEBUG\n", encoding="utf-8"
    )
    database = tmp_path / "never.db"

    result = run_cli(f"sqlite:///{database}", "token", "list")

    assert (result.code, result.out) == (2, "")
    assert result.err == "error: .env, line 3: not a NAME=value line\n", result.err
    assert not database.exists(), "a bad .env must stop the command before it starts"


def test_a_dotenv_that_is_not_utf8_stops_the_cli_with_status_2(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"SWR_PORT=8080\n# caf\xe9\nSWR_WORKERS=2\n")
    database = tmp_path / "never.db"

    result = run_cli(f"sqlite:///{database}", "token", "list")

    assert (result.code, result.out) == (2, "")
    assert result.err == "error: .env, line 2: not UTF-8 text\n", result.err
    assert not database.exists()


def test_an_unreadable_dotenv_stops_the_cli_with_status_2(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SWR_PORT=8080\n", encoding="utf-8")

    def unreadable(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    # The suite may run as root, who reads a file whatever its mode.
    monkeypatch.setattr(Path, "read_bytes", unreadable)
    result = run_cli(f"sqlite:///{tmp_path}/never.db", "token", "list")

    assert (result.code, result.out) == (2, "")
    assert result.err == "error: .env: cannot read it: Permission denied\n", result.err


def test_a_dotenv_directory_is_not_a_settings_file(monkeypatch, tmp_path):
    # A virtualenv is often called .env.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").mkdir()

    assert Settings.from_env().port == 8080


@pytest.mark.parametrize("quote", ["", '"', "'"])
def test_dotenv_values_are_taken_literally(monkeypatch, tmp_path, quote):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PART", "expanded")
    url = "postgresql+psycopg://swr:pa${PART}ss$PART@db/swr"
    (tmp_path / ".env").write_text(
        f"OTHER=${{PART}}\nSWR_DATABASE_URL={quote}{url}{quote}\n", encoding="utf-8"
    )

    assert Settings.from_env().database_url == url


def _dotenv_cpu_seconds(directory: Path, lines: int) -> float:
    (directory / ".env").write_text(
        "".join(f"OTHER_TOOL_{i}=value-{i}\n" for i in range(lines)) + "SWR_PORT=7000\n",
        encoding="utf-8",
    )
    start = time.process_time()
    assert Settings.from_env().port == 7000
    return time.process_time() - start


def test_reading_dotenv_scales_linearly_with_its_lines(monkeypatch, tmp_path):
    # A ratio, not a threshold: sixteen times the lines may cost about sixteen times the CPU
    # (up to twice that for noise), not the 256 times of a quadratic reader.
    monkeypatch.chdir(tmp_path)
    small = min(_dotenv_cpu_seconds(tmp_path, 1_000) for _ in range(3))
    for _ in range(3):
        large = _dotenv_cpu_seconds(tmp_path, 16_000)
        if large / small < 32:
            break
    assert large / small < 32, (small, large)
