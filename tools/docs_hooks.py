"""MkDocs hooks for the documentation site (mkdocs.yml `hooks:`).

Two files come from outside `docs/`: the Redoc reference page, which `make docs` renders first and
names in SWR_DOCS_REFERENCE, and the iframe-worker shim from `node_modules/`. Material's offline
plugin would load the shim from a CDN; a site opened from disk must ask no other host, and its
search runs in a web worker, which a browser refuses to start from a file:// URL without it.

Redoc's sidebar shows Redocly's logo from its CDN, and no option turns it off; the page's policy
(docs/redoc.hbs) blocks the request, but the browser reports each block as a console error. The
logo's address is replaced by an empty image carried in the page.
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "node_modules" / "iframe-worker" / "shim" / "index.js"
SHIM_URI = "assets/javascripts/iframe-worker-shim.js"
REFERENCE_URI = "reference/index.html"
REDOC_LOGOS = (
    "https://cdn.redoc.ly/redoc/logo-mini-full.svg",
    "https://cdn.redoc.ly/redoc/logo-mini.svg",
)
EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # Runs after the offline plugin's on_config, which appended the CDN's copy of the shim.
    polyfills = config.extra.get("polyfills", [])
    config.extra["polyfills"] = [SHIM_URI if "iframe-worker" in url else url for url in polyfills]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    if not SHIM.is_file():
        raise PluginError(f"{SHIM.relative_to(ROOT)} is missing: run `make node-tools`")
    files.append(File.generated(config, SHIM_URI, abs_src_path=str(SHIM)))
    reference = os.environ.get("SWR_DOCS_REFERENCE")
    if not reference or not Path(reference).is_file():
        raise PluginError(
            "SWR_DOCS_REFERENCE must name the Redoc page to include: "
            "build the site with `make docs`"
        )
    page = Path(reference).read_text(encoding="utf-8")
    for logo in REDOC_LOGOS:
        page = page.replace(logo, EMPTY_IMAGE)
    files.append(File.generated(config, REFERENCE_URI, content=page))
    return files
