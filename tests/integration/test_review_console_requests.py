"""The local review console server refuses what a web page on another site, or a DNS-rebound name,
could send it (issue 10, point 6); its own page still works.

Plain HTTP on 127.0.0.1 (http.client, so Host, Origin and Sec-Fetch-Site are whatever the
attacker's browser would send); the review function runs on in-process moto. The browser
test (tests/e2e/test_review_console.py) shows the page sending its token.
"""

from __future__ import annotations

import http.client
import json
import re

import pytest

from imagepipe.models import ProvenanceEvent
from imagepipe_tools.review_console.server import LOOPBACK, TOKEN_HEADER, ReviewConsoleServer

ASSET = "0190a4b2-0000-8000-8000-00000000d001"
EVIL = "http://evil.example"


@pytest.fixture
def console(stack, runtime):
    for kind, status, data in [("created", "created", {"requester": "alice", "visibility": "public",
                                                       "original_key": f"originals/{ASSET}.png", "prompt": "a lake"}),
                               ("moderated", "review", {"reasons": ["nsfw:0.5"]})]:
        stack.provenance_store().apply(ProvenanceEvent(event_id=f"{ASSET}:{kind}", asset_id=ASSET, kind=kind,
                                                       actor="test", status=status, data=data))
    server = ReviewConsoleServer(runtime, staff="pat")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def request(server, method: str, path: str, headers: dict[str, str], body: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Host": f"{LOOPBACK}:{server.port}", **headers})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def page_token(server) -> str:
    status, html = request(server, "GET", "/", {})
    assert status == 200
    (token,) = re.findall(r'<meta name="imagepipe-console-token" content="([^"]+)">', html)
    return token


def undecided(stack, runtime) -> bool:
    sent = {q: n for q, n in runtime.queue_depths().items() if q.endswith(("provenance.fifo", "derivatives"))}
    return stack.provenance_store().asset(ASSET)["status"] == "review" and len(sent) == 2 and not any(sent.values())


def test_the_server_listens_on_loopback_only(console):
    """GIVEN the console server THEN its socket is bound to 127.0.0.1, not to every interface."""
    assert console._httpd.socket.getsockname()[0] == "127.0.0.1" and console.url.startswith("http://127.0.0.1:")


def test_the_page_carries_a_per_session_token_that_config_js_does_not(console, runtime):
    """GIVEN the console THEN its HTML page carries a long random token, a new one per server; the
    script config.js (which any site may include with <script src>) does not carry it."""
    token = page_token(console)
    assert len(token) >= 32 and token == console.token
    status, config = request(console, "GET", "/config.js", {"Sec-Fetch-Site": "same-origin"})
    assert status == 200 and token not in config
    other = ReviewConsoleServer(runtime, staff="pat")
    assert other.token != token


def test_a_cross_site_text_plain_post_decides_nothing(console, stack, runtime):
    """GIVEN an asset waiting for review WHEN a page on another site posts text/plain to the approve
    endpoint (what a <form> or no-cors fetch can send: Origin of that site, no token) THEN 403, and
    nothing is claimed, recorded or sent; with the Origin header stripped, still 403 (no token)."""
    attack = {"Content-Type": "text/plain", "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    assert request(console, "POST", f"/api/reviews/{ASSET}/approve", attack, "{}")[0] == 403
    assert request(console, "POST", f"/api/reviews/{ASSET}/approve", {"Content-Type": "text/plain"}, "{}")[0] == 403
    assert request(console, "POST", f"/api/reviews/{ASSET}/reject", {"Content-Type": "application/json"},
                   '{"reason": "x"}')[0] == 403
    assert undecided(stack, runtime)


def test_a_foreign_host_is_refused_even_for_the_page(console):
    """GIVEN a DNS-rebinding attack (evil.example resolving to 127.0.0.1, so the browser sends
    Host: evil.example:PORT and treats the console as evil.example's own) THEN the page, its
    scripts and the API all answer 403: the page never hands its token to that origin, and the queue
    is not read even with the right token."""
    token = page_token(console)
    for host in (f"evil.example:{console.port}", "evil.example", f"127.0.0.1:{console.port + 1}", f"localhost.evil.example:{console.port}"):
        for path, headers in [("/", {}), ("/config.js", {}), ("/api/reviews", {TOKEN_HEADER: token})]:
            status, body = request(console, "GET", path, {"Host": host, **headers})
            assert status == 403 and token not in body, (host, path)


def test_another_origin_is_refused_even_with_the_token(console, stack, runtime):
    """GIVEN the right token WHEN the request comes from another origin (Origin header, or the
    browser's Sec-Fetch-Site) THEN 403; an API POST that is not JSON is refused too."""
    token = page_token(console)
    approve = f"/api/reviews/{ASSET}/approve"
    json_headers = {TOKEN_HEADER: token, "Content-Type": "application/json"}
    assert request(console, "GET", "/api/reviews", {TOKEN_HEADER: token, "Origin": EVIL})[0] == 403
    assert request(console, "GET", "/api/reviews", {TOKEN_HEADER: token, "Origin": "null"})[0] == 403
    assert request(console, "POST", approve, {**json_headers, "Origin": EVIL}, "{}")[0] == 403
    assert request(console, "POST", approve, {**json_headers, "Sec-Fetch-Site": "same-site"}, "{}")[0] == 403
    assert request(console, "GET", "/config.js", {"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert request(console, "POST", approve, {TOKEN_HEADER: token, "Content-Type": "text/plain"}, "{}")[0] == 415
    assert request(console, "GET", "/api/reviews", {TOKEN_HEADER: "x" + token[1:]})[0] == 403
    assert undecided(stack, runtime)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_consoles_own_page_lists_and_decides(console, host):
    """GIVEN what the console's page sends (its own Host and Origin, the token header, JSON) THEN the
    queue is listed and the approval goes through as the staff member."""
    token = page_token(console)
    own = {"Host": f"{host}:{console.port}", "Origin": f"http://{host}:{console.port}", "Sec-Fetch-Site": "same-origin",
           TOKEN_HEADER: token}
    status, body = request(console, "GET", "/api/reviews?limit=50", own)
    assert status == 200 and [i["asset_id"] for i in json.loads(body)["items"]] == [ASSET]
    status, body = request(console, "POST", f"/api/reviews/{ASSET}/approve", {**own, "Content-Type": "application/json"}, "{}")
    assert status == 202 and json.loads(body)["reviewer"].endswith("/imagepipe-reviewers/pat")


def test_the_page_script_sends_the_token_in_a_header(console):
    """GIVEN console.js as served THEN it reads the token from the page's meta tag and sends it in
    the header the server checks (the browser test drives it for real)."""
    status, script = request(console, "GET", "/console.js", {"Sec-Fetch-Site": "same-origin"})
    assert status == 200
    assert 'meta[name="imagepipe-console-token"]' in script and f'headers["{TOKEN_HEADER}"] = token' in script
