"""`make fuzz`: the deep contract run. schemathesis's CLI, every check, positive and negative data,
against a real server (response validation on) loaded with the test catalog.

    python -m tests.support.fuzz [--max-examples N] [extra schemathesis options...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from swr_official_images.spec import SPEC_PATH
from tests.conftest import start_loaded_server, write_test_catalog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=5000, help="cases per operation")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = write_test_catalog(Path(tmp) / "catalog.json")
        database_url = f"sqlite:///{tmp}/fuzz.db"
        with start_loaded_server(database_url, catalog) as server:
            command = [
                sys.executable, "-m", "schemathesis.cli", "run", str(SPEC_PATH),
                "--url", server.base_url,
                "--header", f"X-Auth-Token: {server.tokens.valid}",
                "--checks", "all",
                "--mode", "all",
                "--phases", "examples,coverage,fuzzing",
                "--max-examples", str(args.max_examples),
                *extra,
            ]  # fmt: skip
            print("running schemathesis with", args.max_examples, "cases per operation", flush=True)
            return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
