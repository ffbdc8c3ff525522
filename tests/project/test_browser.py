"""In a real browser: the reference page of `make docs`, offline, and Swagger UI on a live server
used as a person would (Authorize, Try it out, Execute)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, output_folder, require_browser
from tests.support.contract import expected_error_code, resolve

pytestmark = pytest.mark.slow  # a real browser: seconds a page

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
def reference_page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        ["make", "-s", "docs", f"DOCS={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "index.html"


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


def test_make_docs_writes_one_page_that_needs_no_network(reference_page):
    html = reference_page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", html), "a script is loaded from elsewhere"
    assert not re.search(r"<link[^>]+href=\"https?:", html), "a resource is fetched from elsewhere"


def test_the_reference_page_renders_every_operation_parameter_and_response(
    browser, screenshots, reference_page, spec
):
    page = browser.new_page()
    # Offline: nothing leaves the machine. A request that gets as far as the network comes here
    # (one the page's own policy refuses never does).
    sent = []
    page.route(
        re.compile(r"^https?://"), lambda route: (sent.append(route.request.url), route.abort())
    )
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
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

    assert errors == []
    assert sent == []  # not even Redoc's logo from its CDN


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
