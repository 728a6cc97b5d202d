"""The UI's front door on a real `dagster dev` (front_door.py: an authenticating reverse proxy): requests a
foreign page or a rebinding name could make are refused and launch nothing; the token logs a browser in.

Every refused request carries a real launch of a backfill, and the instance is asked afterwards: no backfill, no
run. The same mutation with the token, by POST from the UI's own origin, is accepted (so the refusals are the front
door's). Headless Chromium (Debian's package) logs in with the printed URL, then visits a page served from another
port of 127.0.0.1 (same site, another origin: the SameSite cookie IS sent) that fires the mutation by <img> (GET)
and by fetch (POST): nothing is launched.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from ilms_dagster.definitions import defs
from ilms_dagster.orchestration.instance import instance_at
from tests.support.dagster_dev import LAUNCH_BACKFILL, backfill_asset_keys, dagster_dev, ensure_partitions, free_port

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    root = tmp_path_factory.mktemp("front_door")
    (root / "inbox").mkdir()
    with dagster_dev(root) as server:
        yield server


@pytest.fixture(scope="module")
def launch(ui):
    """The GraphQL body that launches a backfill of one partition (as the UI's Materialize button does)."""
    with instance_at(ui.home) as instance:
        keys = ensure_partitions(instance, ["2024"], ["THA"])
    params = {
        "partitionNames": keys,
        "assetSelection": [{"path": k.path} for k in backfill_asset_keys(defs)],
        "title": "front door",
    }
    return {"query": LAUNCH_BACKFILL, "variables": {"params": params}}


def request(
    url: str, method: str = "GET", body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict, str]:
    """(status, headers, body) of a request, redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers=({"Content-Type": "application/json"} if data else {}) | (headers or {})
    )
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def launched(ui) -> tuple[list[str], list[str]]:
    """(backfill ids, run ids) of the instance."""
    with instance_at(ui.home) as instance:
        return [b.backfill_id for b in instance.get_backfills()], [r.run_id for r in instance.get_runs()]


def test_refused_requests_launch_nothing_and_the_token_by_post_launches(ui, launch):
    bearer = {"Authorization": f"Bearer {ui.token}"}
    host = urllib.parse.urlsplit(ui.url).netloc
    get_mutation = f"{ui.url}/graphql?" + urllib.parse.urlencode(
        {"query": launch["query"], "variables": json.dumps(launch["variables"])}
    )
    refused = {
        "no token (POST)": request(f"{ui.url}/graphql", "POST", launch),
        "no token (page)": request(f"{ui.url}/assets"),
        "a wrong token": request(f"{ui.url}/graphql", "POST", launch, {"Authorization": "Bearer " + "x" * 43}),
        "a wrong token in the URL": request(f"{ui.url}/?token={'x' * 43}"),
        "GET mutation, foreign Origin": request(get_mutation, headers={"Origin": "http://evil.example"}),
        "GET mutation, with the token": request(get_mutation, headers=bearer),
        "cross-origin POST, with the token": request(
            f"{ui.url}/graphql", "POST", launch, bearer | {"Origin": "http://evil.example"}
        ),
        "cross-origin POST, another port": request(
            f"{ui.url}/graphql", "POST", launch, bearer | {"Origin": "http://127.0.0.1:1"}
        ),
        "Origin: null": request(f"{ui.url}/graphql", "POST", launch, bearer | {"Origin": "null"}),
        "Host: evil.example (DNS rebinding)": request(
            f"{ui.url}/graphql", "POST", launch, bearer | {"Host": f"evil.example:{host.rsplit(':', 1)[1]}"}
        ),
        "Host: evil.example, a read": request(f"{ui.url}/server_info", headers=bearer | {"Host": "evil.example"}),
    }
    statuses = {name: status for name, (status, _, _) in refused.items()}
    assert statuses == {
        "no token (POST)": 401,
        "no token (page)": 401,
        "a wrong token": 401,
        "a wrong token in the URL": 401,
        "GET mutation, foreign Origin": 405,
        "GET mutation, with the token": 405,
        "cross-origin POST, with the token": 403,
        "cross-origin POST, another port": 403,
        "Origin: null": 403,
        "Host: evil.example (DNS rebinding)": 403,
        "Host: evil.example, a read": 403,
    }
    assert all("LaunchBackfill" not in body and "dagster_version" not in body for _, _, body in refused.values())
    assert launched(ui) == ([], [])  # asked of the instance: nothing was created

    # a query by GET is still served, and the mutation by POST from the UI's own origin with the token launches
    status, _, body = request(f"{ui.url}/graphql?query=%7Bversion%7D", headers=bearer)
    assert status == 200 and json.loads(body)["data"]["version"]
    status, _, body = request(f"{ui.url}/graphql", "POST", launch, bearer | {"Origin": ui.url})
    assert status == 200, body
    result = json.loads(body)["data"]["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    assert launched(ui)[0] == [result["backfillId"]]


def test_the_token_url_sets_an_httponly_samesite_strict_cookie_and_the_cookie_logs_in(ui):
    status, headers, _ = request(f"{ui.login_url}&next=1".replace("/?", "/assets?"))
    assert status == 303 and headers["location"] == "/assets?next=1"  # the token leaves the address bar
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert ui.token not in cookie  # a value derived from the token, not the token
    pair = cookie.split(";")[0]
    assert request(f"{ui.url}/server_info", headers={"Cookie": pair})[0] == 200
    assert request(f"{ui.url}/server_info", headers={"Cookie": pair[:-4] + "0000"})[0] == 401


class _Page(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


def test_chromium_logs_in_with_the_printed_url_and_a_foreign_page_launches_nothing(ui, launch):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package")
    before = launched(ui)[0]  # the backfills (the one launched above starts runs meanwhile, and sensors follow it)
    get_mutation = f"{ui.url}/graphql?" + urllib.parse.urlencode(
        {"query": launch["query"], "variables": json.dumps(launch["variables"])}
    )
    _Page.html = f"""<html><body><img src="{get_mutation}"><script>
      window.done = fetch({json.dumps(ui.url + "/graphql")}, {{method: "POST", credentials: "include", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(json.dumps(launch))}}})
        .then(() => "sent", e => "error " + e);
    </script></body></html>""".encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            try:
                response = page.goto(f"{ui.url}/assets")
                assert response.status == 401  # no cookie yet
                page.goto(ui.login_url)  # the URL `ilms dev` prints
                expect(page).to_have_url(re.compile(rf"^{re.escape(ui.url)}/(?!.*token=)"), timeout=UI_TIMEOUT_MS)
                page.goto(f"{ui.url}/assets")
                # the catalog, drawn from GraphQL answers (the page's own POSTs pass the front door with the cookie)
                expect(page.get_by_role("link", name=re.compile("ilms_dagster")).first).to_be_visible(
                    timeout=UI_TIMEOUT_MS
                )
                expect(page.get_by_text(re.compile(r"\d+ partitions")).first).to_be_visible(timeout=UI_TIMEOUT_MS)
                (cookie,) = [c for c in page.context.cookies() if c["name"].startswith("ilms_ui_")]
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

                foreign = f"http://127.0.0.1:{server.server_address[1]}/"  # same site, another origin
                page.goto(foreign)
                assert page.evaluate("window.done").startswith("sent")  # the browser did send it
                page.wait_for_timeout(3000)  # the <img> request too
            finally:
                browser.close()
    finally:
        server.shutdown()
    assert launched(ui)[0] == before
