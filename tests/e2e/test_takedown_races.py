"""Withdrawal wins every race, as a race: takedowns running concurrently with on-demand renders
and a derivatives job, many times over, on the embedded AWS (moto server on loopback).

Each iteration makes two public assets from a small original: A published (its ladder written
by the real derivatives stage), B approved and about to be derived. Then, released together by
a barrier: four clients request A's ``/t/{id}`` URLs at every width step and format through the
local edge (the real transform handler renders the misses), a derivatives job derives B, and
two takedowns, each after a random delay, withdraw A and B. Afterwards nothing of either asset
may be readable: no object under their prefixes in the variants bucket, no public source, and
every URL of theirs refused by the edge (which caches what the origin answers).

``IMAGEPIPE_RACE_ITERATIONS`` sets the number of iterations (200 by default).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imagepipe import wiring
from imagepipe.adapters.cdn import Cdn
from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.adapters.storage import ObjectStore
from imagepipe.config import Settings
from imagepipe.delivery.negotiation import WIDTH_STEPS
from imagepipe.ids import derived_asset_id
from imagepipe.keys import VISIBILITY_PREFIXES, asset_prefix, public_source_key
from imagepipe_tools.local.edge import edge_for
from imagepipe_tools.local.embedded import use_endpoint
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack
from imagepipe.models import DerivativesJob, ProvenanceEvent
from imagepipe.provenance.c2pa_signing import ContentCredentials
from imagepipe.provenance.certificates import SigningChain
from imagepipe.stages.derive import publish_variants
from imagepipe.stages.takedown import take_down

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = int(os.environ.get("IMAGEPIPE_RACE_ITERATIONS", "200"))
RENDER_CLIENTS = 4
EXTENSIONS = ("avif", "webp", "jpg")
MAX_DELAY_SECONDS = 0.25  # a takedown lands anywhere from before the first render to after the job


class ApplyNow:
    """A publisher that applies facts at once, as the provenance function does a moment later:
    a stricter race (the job's 'published' lands at once). A late one is audited, not applied."""

    def __init__(self, store: ProvenanceStore) -> None:
        self.store = store
        self.outcomes: Counter = Counter()

    def record(self, event: ProvenanceEvent) -> None:
        self.outcomes[f"{event.kind}:{self.store.apply(event)}"] += 1


@contextlib.contextmanager
def moto_server_process() -> Iterator[str]:
    """The embedded AWS in a process of its own on loopback (`imagepipe_tools.local.embedded.serve`):
    in-process, moto's request handling and the functions' work would share one interpreter."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "imagepipe_tools.local.embedded", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def world():
    saved = dict(os.environ)
    with moto_server_process() as endpoint, open(os.devnull, "w") as log:
        use_endpoint(endpoint)
        wiring.reset()
        try:
            stack = LocalStack(ROOT, endpoint_url=endpoint, parameters={"DerivativeWidths": "96", "DerivativeFormats": "webp"}).deploy()
            with edge_for(stack, runtime := LocalRuntime(stack, log=log)) as edge:
                yield World(stack, runtime, edge)
        finally:
            wiring.reset()
            os.environ.clear()
            os.environ.update(saved)


class World:
    def __init__(self, stack: LocalStack, runtime: LocalRuntime, edge) -> None:
        self.stack, self.runtime, self.edge = stack, runtime, edge
        derivatives = stack.function("derivatives").environment
        review = stack.function("review").environment
        self.originals, self.variants = derivatives["ORIGINALS_BUCKET"], derivatives["VARIANTS_BUCKET"]
        self.objects = ObjectStore(stack.client("s3"))
        self.store = ProvenanceStore(stack.client("dynamodb"), derivatives["PROVENANCE_TABLE"])
        self.cdn = Cdn(stack.client("cloudfront"), review["DISTRIBUTION_ID"])
        secret = stack.client("secretsmanager").get_secret_value(SecretId=derivatives["C2PA_SIGNING_SECRET_ARN"])
        self.credentials = ContentCredentials(SigningChain.from_secret(json.loads(secret["SecretString"])))
        self.engine = Settings.from_environ(derivatives).engine_settings()
        self.original = _png(160, 120)

    def approved_asset(self, name: str) -> str:
        """A public asset whose original is stored and whose record holds moderation's approval."""
        asset_id = derived_asset_id("race", name)
        key = f"originals/{asset_id}.png"
        self.objects.put(self.originals, key, self.original, content_type="image/png")
        for kind, status, data in (("created", "created", {"original_key": key, "visibility": "public",
                                                            "requester": "racer", "source": "upload"}),
                                   ("moderated", "approved", {"verdict": "approve", "blur_regions": []})):
            self.store.apply(ProvenanceEvent(event_id=f"{asset_id}:{kind}", asset_id=asset_id, kind=kind,
                                             actor="test", status=status, data=data))
        return asset_id

    def derive(self, asset_id: str, publisher) -> dict:
        job = DerivativesJob(asset_id=asset_id, original_key=f"originals/{asset_id}.png", visibility="public")
        return publish_variants(job, store=self.objects, publisher=publisher, provenance=self.store,
                                originals_bucket=self.originals, variants_bucket=self.variants, engine=self.engine,
                                max_bytes=10**7, content_credentials=self.credentials).as_dict()

    def take_down(self, asset_id: str) -> dict:
        return take_down(asset_id, reason="race test", by="arn:aws:iam::123456789012:role/legal", store=self.store,
                         objects=self.objects, cdn=self.cdn, variants_bucket=self.variants,
                         originals_bucket=self.originals)

    def forget(self, *asset_ids: str) -> None:
        """Delete the iteration's items from the provenance table. moto deep-copies a whole table for
        every item of a TransactWriteItems, so a table that grows makes every later fact slower."""
        ddb, table = self.stack.client("dynamodb"), self.store._table
        keys = [{"pk": {"S": "BLOCKLIST"}, "sk": item["sk"]}
                for item in ddb.query(TableName=table, KeyConditionExpression="pk = :pk",
                                      ExpressionAttributeValues={":pk": {"S": "BLOCKLIST"}})["Items"]]
        for asset_id in asset_ids:
            keys += [{"pk": item["pk"], "sk": item["sk"]} for item in ddb.query(
                TableName=table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"ASSET#{asset_id}"}})["Items"]]
        for start in range(0, len(keys), 25):
            ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": k}} for k in keys[start:start + 25]]})

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.edge.url + path, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def readable(self, asset_id: str, paths: list[str]) -> list[str]:
        """Everything of ``asset_id`` still readable: stored objects, and URLs the edge serves."""
        found = [key for v in VISIBILITY_PREFIXES for key in self.objects.keys(self.variants, asset_prefix(v, asset_id))]
        if self.objects.head_metadata(self.originals, public_source_key(asset_id)) is not None:
            found.append(public_source_key(asset_id))
        return found + [f"edge:{path}" for path in paths if self.get(path)[0] == 200]


def _png(width: int, height: int) -> bytes:
    image = Image.radial_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def on_demand_paths(asset_id: str) -> list[str]:
    return [f"/t/{asset_id}/{width}w.{ext}" for width in WIDTH_STEPS for ext in EXTENSIONS]


def race_once(world: World, iteration: int, rng: random.Random) -> tuple[list[str], Counter]:
    published, pending = world.approved_asset(f"a-{iteration}"), world.approved_asset(f"b-{iteration}")
    assert world.derive(published, ApplyNow(world.store))["status"] == "published"
    publisher = ApplyNow(world.store)
    served: set[str] = set()
    ladder = [f"/{key}" for key in [world.store.asset(published)["publication"]["manifest_key"],
                                    *(v["key"] for v in world.store.asset(published)["publication"]["variants"])]]
    statuses: Counter = Counter()
    errors: list[BaseException] = []
    done = threading.Event()
    start = threading.Barrier(RENDER_CLIENTS + 3)

    def guarded(work):
        def run():
            try:
                start.wait()
                work()
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
        return run

    def client():
        paths = on_demand_paths(published)
        rng_local = random.Random(rng.random())
        rng_local.shuffle(paths)
        for path in paths:  # until the takedowns are done, then once more
            status = world.get(path)[0]
            statuses[status] += 1
            if status == 200:
                served.add(path)
            if done.is_set():
                break

    def takedown(asset_id: str, delay: float):
        def run():
            threading.Event().wait(delay)
            world.take_down(asset_id)
        return run

    def derive_pending():
        threading.Event().wait(rng.uniform(0, MAX_DELAY_SECONDS / 2))
        result = world.derive(pending, publisher)
        statuses[f"derive:{result['status']}:{result['reason'] or ''}".rstrip(":")] += 1

    def take_both():
        threads = [threading.Thread(target=takedown(published, rng.uniform(0, MAX_DELAY_SECONDS))),
                   threading.Thread(target=takedown(pending, rng.uniform(0, MAX_DELAY_SECONDS)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()

    workers = [threading.Thread(target=guarded(w)) for w in [client] * RENDER_CLIENTS + [derive_pending, take_both]]
    workers.append(threading.Thread(target=guarded(lambda: None)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    statuses.update(publisher.outcomes)
    # What the edge may have cached is what it served; a sample of the rest must be refused too.
    others = rng.sample(sorted(set(on_demand_paths(published)) - served), 2)
    pending_paths = [f"/public/{pending}/manifest.json", f"/public/{pending}/provenance.json"]
    left = world.readable(published, ladder + sorted(served) + others) + world.readable(pending, pending_paths)
    for asset_id in (published, pending):
        assert world.store.asset(asset_id)["status"] == "taken_down"
    world.forget(published, pending)
    return left, statuses


def test_takedowns_racing_renders_and_a_derivatives_job_leave_nothing_readable(world):
    """GIVEN takedowns racing four render clients and a derivatives job, ITERATIONS times with the
    takedowns landing at random moments THEN afterwards no object of either asset exists and the
    edge serves none of their URLs, in every iteration; and the race was real: renders were served
    (200) and refused (410), and derivations both completed and were withdrawn."""
    rng = random.Random(20261204)
    totals: Counter = Counter()
    failures = []
    for iteration in range(ITERATIONS):
        left, statuses = race_once(world, iteration, rng)
        totals += statuses
        if left:
            failures.append((iteration, left))
    print(f"\n{ITERATIONS} iterations: {dict(totals)}; iterations with anything readable: {len(failures)}")
    assert failures == []
    assert totals[200] > 0 and totals[410] > 0
    if ITERATIONS >= 50:
        # the takedown landed before the job, while it was writing, and after it published
        assert totals["derive:skipped:taken_down"] and totals["derive:skipped:withdrawn_while_publishing"]
        assert totals["derive:published"]
