"""`make serve` as a newcomer meets it when something is in the way: a port already taken."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs make, which runs serve

ROOT = Path(__file__).resolve().parents[2]
# What a make passes to the makes it runs; a user's shell has none of them.
MAKE_VARIABLES = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}


def test_make_serve_on_a_busy_port_says_which_and_how_to_choose_another(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            # As from a shell: not as a sub-make of the `make test` that runs this suite.
            **{k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES},
            "SWR_PORT": str(port),
            "SWR_DATABASE_URL": f"sqlite:///{tmp_path}/official-images.db",
        }
        # -o: never reinstall .venv from inside a test, whatever the timestamps say.
        result = subprocess.run(
            ["make", "--no-print-directory", "-s", "-o", ".venv/.installed", "serve"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode != 0
    # Everything but make's own report of the failure: one line that says what to do.
    said = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if not line.startswith("make: ***")
    ]
    assert len(said) == 1, said
    assert f"port {port}" in said[0] and re.search(r"SWR_PORT=\d+ make serve", said[0]), said
