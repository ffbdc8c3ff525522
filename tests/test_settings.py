"""Settings: one declarative place, read from SWR_* variables and .env, validated the same way
for variables and flags; a bad value is one line and exit status 2."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from server.cli import main as cli_main
from server.settings import (
    SettingInfo,
    Settings,
    SettingsError,
    display_value,
    setting_infos,
)
from tests.conftest import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"


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


def _readme_configuration_rows() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_readme_table_lists_exactly_the_settings():
    documented = set()
    for row in _readme_configuration_rows():
        documented.update(re.findall(r"`([^`]+)`", row.split("|")[1]))

    expected = {info.variable for info in setting_infos()}
    expected |= {info.flag for info in setting_infos() if info.flag}
    assert documented == expected


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
