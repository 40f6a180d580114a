"""The review console in headless Chromium (Debian's chromium + chromedriver): clicking through a
review, and a page on another site trying to approve through the console (refused).

The stack runs on moto server on loopback so the page can load the presigned preview URLs
the API hands out; the console server proxies the page's API calls to the review function.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest

from imagepipe import wiring
from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.ids import derived_asset_id
from imagepipe.models import GenerationRequest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
                       reason="needs Debian's chromium and chromium-driver (make test-deps installs them)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (requirements-dev.in; make install)")


@pytest.fixture
def loopback_stack():
    """template.yaml on moto server at 127.0.0.1, with pollers available; the environment restored after."""
    from imagepipe_tools.local.embedded import EmbeddedAws, use_endpoint
    from imagepipe_tools.local.runtime import LocalRuntime
    from imagepipe_tools.local.stack import LocalStack

    saved = dict(os.environ)
    wiring.reset()
    aws = EmbeddedAws()
    endpoint = aws.start()
    use_endpoint(endpoint)
    # moto's state is per process: start from nothing, whatever ran before in this process.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        stack = LocalStack(ROOT, endpoint_url=endpoint).deploy()
        yield stack, LocalRuntime(stack, log=open(os.devnull, "w"))  # noqa: SIM115 - loggers keep it
    finally:
        aws.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="imagepipe-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_a_reviewer_approves_and_rejects_in_the_console(loopback_stack, browser, tmp_path):
    """GIVEN two generated images waiting for review WHEN a reviewer opens the console in
    Chromium THEN both are listed with their preview (loaded from the presigned URL), reasons
    and scores; clicking Approve on one publishes it; clicking Reject without a reason is
    refused by the page, and with a reason quarantines the other, both recorded with the
    reviewer's identity."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from imagepipe_tools.review_console.server import ReviewConsoleServer, staff_principal

    stack, runtime = loopback_stack
    queue = stack.function("generate").triggers[0].queue_url
    ids = []
    for index, prompt in enumerate(["an antique weapon in a museum", "a vintage pistol on velvet"]):
        request = GenerationRequest(prompt=prompt, seed=index, width=512, height=384, requester="carol",
                                    visibility="public", client_request_id=f"ui-{index}", model_id="local")
        stack.client("sqs").send_message(QueueUrl=queue, MessageBody=request.model_dump_json())
        ids.append(derived_asset_id("generate", "carol", f"ui-{index}"))
    assert runtime.drain(timeout=120)

    server = ReviewConsoleServer(runtime, staff="pat")
    url = server.start()
    try:
        wait = WebDriverWait(browser, 20)
        browser.get(url)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.card")) == 2)
        cards = {c.get_attribute("data-asset"): c for c in browser.find_elements(By.CSS_SELECTOR, "article.card")}
        assert set(cards) == set(ids)
        wait.until(lambda d: all(d.execute_script("return arguments[0].naturalWidth", img) > 0
                                 for img in d.find_elements(By.CSS_SELECTOR, "img.preview")))
        first, second = cards[ids[0]], cards[ids[1]]
        assert "prompt_review:weapon" in first.find_element(By.CSS_SELECTOR, ".reasons").text
        assert "nsfw" in first.find_element(By.CSS_SELECTOR, ".labels").text
        assert "signed in as pat" in browser.find_element(By.ID, "reviewer").text
        browser.save_screenshot(str(tmp_path / "console.png"))
        # The page's script sends the session token; the same call from the page without it is refused.
        assert browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/reviews').then((r) => done(r.status), () => done(0));") == 403

        first.find_element(By.CSS_SELECTOR, "button.approve").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"{ids[0]} approved by {staff_principal('pat')}"))
        wait.until(ec.staleness_of(first))

        second.find_element(By.CSS_SELECTOR, "button.reject").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "A reason is required"))
        second.find_element(By.CSS_SELECTOR, "input.reason").send_keys("not suitable for the public gallery")
        second.find_element(By.CSS_SELECTOR, "button.reject").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"{ids[1]} rejected"))
        wait.until(ec.staleness_of(second))
    finally:
        server.stop()

    assert runtime.drain(timeout=120)
    store = ProvenanceStore(stack.client("dynamodb"), stack.function("provenance").environment["PROVENANCE_TABLE"])
    approved, rejected = store.asset(ids[0]), store.asset(ids[1])
    assert approved["status"] == "published" and approved["review_decision"]["reviewer"] == staff_principal("pat")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "not suitable for the public gallery")
    assert rejected["review_decision"]["reviewer"] == staff_principal("pat")


ATTACK_PAGE = """<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain" action="{console}api/reviews/{asset}/approve">
<input name='{{"note": "' value='x"}}'></form>
<script>
fetch("{console}api/reviews/{asset}/approve", {{method: "POST", mode: "no-cors", body: "{{}}",
  headers: {{"content-type": "text/plain"}}}}).finally(() => document.getElementById("f").submit());
</script></body></html>"""


def test_a_page_on_another_site_cannot_approve_through_the_console(loopback_stack, browser):
    """GIVEN the console running for a reviewer and an asset waiting for review WHEN the reviewer's
    browser opens a page on another site (http://localhost:OTHER/) that posts text/plain to the
    console's approve endpoint, by fetch and by form THEN the console refuses both (no token, foreign
    origin): the asset is still waiting and no decision was sent."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from selenium.webdriver.support.ui import WebDriverWait

    from imagepipe.models import ProvenanceEvent
    from imagepipe_tools.review_console.server import ReviewConsoleServer

    stack, runtime = loopback_stack
    asset_id = "0190a4b2-0000-8000-8000-00000000e001"
    for kind, status, data in [("created", "created", {"requester": "carol", "visibility": "public",
                                                       "original_key": f"originals/{asset_id}.png"}),
                               ("moderated", "review", {"reasons": ["nsfw:0.5"]})]:
        stack.provenance_store().apply(ProvenanceEvent(event_id=f"{asset_id}:{kind}", asset_id=asset_id, kind=kind,
                                                       actor="test", status=status, data=data))
    server = ReviewConsoleServer(runtime, staff="pat")
    page = ATTACK_PAGE.format(console=server.start(), asset=asset_id).encode()

    class AttackSite(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    attacker = ThreadingHTTPServer(("127.0.0.1", 0), AttackSite)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://localhost:{attacker.server_address[1]}/")
        WebDriverWait(browser, 20).until(lambda d: d.current_url.startswith(server.url))  # the form was sent
        assert "not requested by the console's own page" in browser.page_source  # the console's refusal
    finally:
        attacker.shutdown()
        attacker.server_close()
        server.stop()
    assert stack.provenance_store().asset(asset_id)["status"] == "review"
    depths = runtime.queue_depths()
    assert [n for q, n in depths.items() if q.endswith(("provenance.fifo", "derivatives"))] == [0, 0]
