"""The `.env` reader on its own: the lines it returns, and the error it raises, which names the
file and line and never the line's text."""

from __future__ import annotations

import pytest

from swr_official_images.env_file import EnvFileError, read_dotenv


def test_a_missing_file_holds_no_settings(tmp_path):
    assert read_dotenv(tmp_path / ".env") == {}


def test_lines_are_read_with_dotenv_syntax(tmp_path):
    path = tmp_path / ".env"
    path.write_text(
        "# comment\nexport SWR_PORT=9000\nSWR_HOST='10.0.0.1'\nSWR_LOG_LEVEL=\"debug\"\n",
        encoding="utf-8",
    )

    assert read_dotenv(path) == {
        "SWR_PORT": "9000",
        "SWR_HOST": "10.0.0.1",
        "SWR_LOG_LEVEL": "debug",
    }


def test_a_bad_line_is_an_env_file_error_naming_the_line_not_its_text(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SWR_PORT=9000\n\nhunter2 is the password\n", encoding="utf-8")

    with pytest.raises(EnvFileError) as caught:
        read_dotenv(path)

    assert str(caught.value) == f"{path}, line 3: not a NAME=value line"
