"""In a real browser: the documentation site of `make docs` opened from disk with the network
blocked (every page of its navigation, its search, its Redoc reference), and Swagger UI on a live
server used as a person would (Authorize, Try it out, Execute)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, output_folder, require_browser
from tests.support.contract import expected_error_code, resolve

pytestmark = [
    pytest.mark.slow,  # a real browser: seconds a page
    # A walk through every page or operation renders dozens of screens in software: on a busy
    # 2-core machine that takes minutes, past the suite's 120 s bound for a hung test.
    pytest.mark.timeout(360),
]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def browser(tmp_path) -> Iterator[object]:
    """A persistent context on a fresh user-data-dir (a BrowserContext)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        # Generous: a shared machine may be slow; the tests assert what shows, not how fast.
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def screenshots(request) -> Path:
    return output_folder(request)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """`make docs` into a folder of the test's own: the site, as a reader opens it from disk."""
    out = tmp_path_factory.mktemp("docs") / "site"
    result = subprocess.run(
        ["make", "-s", "docs", f"DOCS={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def reference_page(site) -> Path:
    return site / "reference" / "index.html"


def offline(page) -> Callable[[], list[str]]:
    """Block the network: every request that is not for a file is refused and remembered, as is
    every console error and uncaught exception. Returns what went wrong so far."""
    problems: list[str] = []

    def route(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            problems.append(f"request to {route.request.url}")
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return lambda: problems


def slug(tag: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")


def leading_text(description: str) -> str:
    """The start of a description as it reads once its Markdown is rendered."""
    return re.split(r"[`(*\[\n]", description.strip(), maxsplit=1)[0].strip()


def operations(spec: dict):
    for item in spec["paths"].values():
        for method in METHODS:
            if method in item:
                yield item, item[method]


def test_make_docs_writes_a_site_that_needs_no_network(site):
    """Nothing in the site is fetched from another host: no script, style, font or image."""
    remote = re.compile(
        r"""(<(script|img|iframe)[^>]+src|<link[^>]+href|url\()\s*=?\s*["']?https?:"""
    )
    files = [p for p in site.rglob("*") if p.suffix in {".html", ".css", ".js"}]
    assert (site / "reference" / "index.html") in files
    assert (site / "search" / "search_index.js").is_file(), "no offline search index"
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        match = remote.search(text)
        assert match is None, (str(path.relative_to(site)), match and match.group())


def navigation() -> list[tuple[str, str]]:
    """The site's pages as mkdocs.yml lists them: (title, page)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return [next(iter(entry.items())) for entry in config["nav"]]


def test_the_site_from_disk_every_page_and_the_search(browser, screenshots, site, spec):
    page = browser.new_page()
    problems = offline(page)
    page.goto((site / "index.html").as_uri())
    sidebar = page.locator(".md-sidebar--primary")
    shot = 0
    for title, source in navigation():
        sidebar.get_by_role("link", name=title, exact=True).first.click()
        page.wait_for_url(re.compile(re.escape(source.replace(".md", ".html")) + "$"))
        heading = page.locator("article h1").first
        heading.wait_for()
        assert heading.inner_text().strip(), source
        shot += 1
        page.screenshot(path=screenshots / f"{shot:02d}-{source.removesuffix('.md')}.png")

    # The Reference page leads to the Redoc page, which renders from disk too.
    page.get_by_role("link", name="Open the API reference").click()
    page.wait_for_url(re.compile(r"reference/index\.html$"))
    page.get_by_text(spec["info"]["title"]).first.wait_for()
    shot += 1
    page.screenshot(path=screenshots / f"{shot:02d}-reference-redoc.png")
    page.go_back()

    # Search, as a reader uses it: type, see results, follow one.
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially("If-None-Match", delay=20)
    result = page.locator(".md-search-result__link", has_text="Conditional requests").first
    result.wait_for()
    shot += 1
    page.screenshot(path=screenshots / f"{shot:02d}-search.png")
    result.click()
    page.wait_for_url(re.compile(r"/api\.html(\?[^#]*)?#conditional-requests$"))
    page.get_by_text("If-None-Match").first.wait_for()
    shot += 1
    page.screenshot(path=screenshots / f"{shot:02d}-search-result.png")

    assert problems() == []


def test_the_reference_page_renders_every_operation_parameter_and_response(
    browser, screenshots, reference_page, spec
):
    page = browser.new_page()
    # Offline: nothing leaves the machine (a request the page's own policy refuses never gets
    # as far as the network: not even Redoc's logo from its CDN).
    problems = offline(page)
    page.goto(reference_page.as_uri())

    for item, operation in operations(spec):
        anchor = f"{slug(operation['tags'][0])}/{operation['operationId']}"
        page.goto(f"{reference_page.as_uri()}#/{anchor}")
        section = page.locator(f'[id="{anchor}"]')
        section.get_by_text(operation["summary"], exact=True).first.wait_for()
        parameters = [resolve(spec, p) for p in item.get("parameters", [])]
        parameters += [resolve(spec, p) for p in operation.get("parameters", [])]
        for parameter in parameters:
            # Redoc anchors a header parameter under "headers", by its name in lower case.
            if parameter["in"] == "header":
                where = f"t=request&in=headers&path={parameter['name'].lower()}"
            else:
                where = f"t=request&in={parameter['in']}&path={parameter['name']}"
            assert section.locator(f'[id="{anchor}/{where}"]').is_visible(), parameter["name"]
        tabs = section.locator(f'[id="{anchor}/responses"] [role=tab]')
        assert tabs.all_inner_texts() == list(operation["responses"]), anchor
        for status, response in operation["responses"].items():
            section.locator(f'[id="{anchor}/responses"] [role=tab]', has_text=status).click()
            text = leading_text(resolve(spec, response)["description"])
            assert section.get_by_text(text).first.is_visible(), (anchor, status, text)
        section.screenshot(path=screenshots / f"reference-{operation['operationId']}.png")

    assert problems() == []


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_swagger_ui_authorize_try_it_out_execute(browser, screenshots, live_server, spec):
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/ui/")

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    # One form per security scheme: the token goes into AuthToken's (AkSk's needs a signer).
    token_form = dialog.locator("form").filter(has_text="AuthToken (apiKey)")
    token_form.locator("input").fill(live_server.tokens.valid)
    token_form.get_by_role("button", name="Authorize").click()
    token_form.get_by_role("button", name="Close").click()

    operation = page.locator("#operations-Official_images-show_official_image")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    namespace = operation.locator("input[placeholder=namespace]")
    repository = operation.locator("input[placeholder=repository]")
    # Swagger UI starts from the spec's examples.
    assert namespace.input_value() == spec["components"]["parameters"]["namespace"]["example"]
    assert repository.input_value() == spec["components"]["parameters"]["repository"]["example"]

    def execute(name: str) -> tuple[str, dict]:
        repository.fill(name)
        operation.get_by_role("button", name="Execute").click()
        url = operation.locator(".request-url pre")
        url.get_by_text(f"/repos/{name}", exact=False).wait_for()
        row = operation.locator(".live-responses-table tbody tr.response").first
        status = row.locator(".response-col_status").inner_text().strip()
        body = row.locator(".response-col_description pre.microlight").first.inner_text()
        return status, json.loads(body)

    status, body = execute("nginx")
    assert status == "200", body
    assert body["namespace"] == "official" and body["name"] == "nginx", body
    operation.screenshot(path=screenshots / "swagger-ui-200.png")

    status, body = execute("no-such-image")
    assert status == "404", body
    assert body["error_code"] == expected_error_code(spec, 404), body
    assert set(body) == {"error_code", "error_msg", "request_id"}, body
    operation.screenshot(path=screenshots / "swagger-ui-404.png")


def authorize_with_token(page, token: str) -> None:
    page.get_by_role("button", name="Authorize").first.click()
    token_form = page.locator(".dialog-ux .modal-ux form").filter(has_text="AuthToken (apiKey)")
    token_form.locator("input").fill(token)
    token_form.get_by_role("button", name="Authorize").click()
    token_form.get_by_role("button", name="Close").click()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_swagger_ui_servers_box_names_the_service(browser, live_server):
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/ui/")
    servers = page.locator(".servers select")
    servers.wait_for()
    assert servers.locator("option").all_inner_texts() != [], "the Servers box is empty"
    assert servers.input_value() == "/"


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_swagger_ui_authorize_shows_the_token_first_with_the_focus(
    browser, screenshots, live_server, spec
):
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/ui/")
    page.get_by_role("button", name="Authorize").first.click()
    content = page.locator(".dialog-ux .modal-ux-content")
    forms = content.locator("form")
    forms.first.wait_for()
    first_scheme = next(iter(spec["components"]["securitySchemes"]))
    assert first_scheme == "AuthToken"
    assert forms.first.locator("h4").inner_text().split() == [first_scheme, "(apiKey)"]
    # What the dialog shows when it opens: its top, and a paste lands in the token's field.
    assert content.evaluate("element => element.scrollTop") == 0
    assert forms.first.locator("input").evaluate("field => field === document.activeElement")
    page.keyboard.insert_text(live_server.tokens.valid)
    assert forms.first.locator("input").input_value() == live_server.tokens.valid
    page.screenshot(path=screenshots / "swagger-ui-authorize.png")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_swagger_ui_default_execute_of_every_operation_succeeds(
    browser, screenshots, live_server, spec
):
    """Try it out, then Execute with what Swagger UI fills in: a 2xx with something to read."""
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/ui/")
    authorize_with_token(page, live_server.tokens.valid)

    for _, operation in operations(spec):
        tag = operation["tags"][0].replace(" ", "_")
        block = page.locator(f"#operations-{tag}-{operation['operationId']}")
        block.locator(".opblock-summary").click()
        block.get_by_role("button", name="Try it out").click()
        block.get_by_role("button", name="Execute").click()
        row = block.locator(".live-responses-table tbody tr.response").first
        row.wait_for()
        status = row.locator(".response-col_status").inner_text().strip()
        answer = row.locator(".response-col_description").inner_text()
        block.screenshot(path=screenshots / f"{operation['operationId']}.png")
        method = block.locator(".opblock-summary-method").inner_text().strip()
        assert status.startswith("2"), (method, operation["operationId"], status, answer)
        if method == "GET":
            body = row.locator(".response-col_description pre.microlight").first.inner_text()
            assert body.strip() not in ("", "{}"), (operation["operationId"], body)
            if operation["operationId"] == "list_official_images":
                assert json.loads(body)["repos"], body
        else:
            # No body (HEAD, OPTIONS): the response headers are the answer.
            assert "Response headers" in answer, (operation["operationId"], answer)
            assert "x-request-id" in answer, (operation["operationId"], answer)
        block.locator(".opblock-summary").click()
