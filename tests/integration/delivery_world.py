"""A published public and private asset behind a running local edge, shared by a test module.

Publishing through the real pipeline takes seconds, so a module builds this world once
(``pytest.fixture(scope="module")``) and its tests use distinct assets or paths where they
change state. Everything runs on in-process moto; the edge listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto import mock_aws

from imagepipe import wiring
from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe_tools.cloudfront.edge import LocalEdge
from imagepipe.ids import derived_asset_id
from imagepipe_tools.local.delivery import sign_asset
from imagepipe_tools.local.edge import edge_for
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack
from imagepipe.models import GenerationRequest

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@dataclass
class Clock:
    """The edge's clock: real time plus an offset a test may move forward."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class World:
    stack: LocalStack
    runtime: LocalRuntime
    edge: LocalEdge
    clock: Clock
    assets: dict[str, str] = field(default_factory=dict)  # label -> asset id

    @property
    def store(self) -> ProvenanceStore:
        return ProvenanceStore(self.stack.client("dynamodb"), self.env("PROVENANCE_TABLE"))

    def env(self, name: str) -> str:
        return next(fn.environment[name] for fn in self.stack.functions.values() if name in fn.environment)

    def sign(self, label: str, requester: str | None = None, **options: Any) -> tuple[int, dict[str, Any]]:
        return sign_asset(self.runtime, self.assets[label], requester=requester, **options)

    def get(self, url: str, headers: Mapping[str, str] | None = None, method: str = "GET", *, follow: bool = True) -> Response:
        if url.startswith("/"):
            url = self.edge.url + url
        elif url.startswith("https://"):
            url = self.edge.localize(url)
        request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
        opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=60) as answer:
                return Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def transform_invocations(self) -> int:
        stats = self.runtime.stats.get(self.stack.function("transform").logical_id)
        return stats.invocations if stats else 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def cache(self) -> str | None:
        return self.headers.get("X-Cache")


REQUESTS = {
    "public": dict(prompt="a calm mountain lake at sunrise", seed=7, width=640, height=480,
                   requester="alice", visibility="public"),
    "private": dict(prompt="an old lighthouse on a rocky coast", seed=42, width=640, height=416,
                    requester="bob", visibility="private"),
    "doomed": dict(prompt="rolling green hills under an evening sky", seed=3, width=512, height=384,
                   requester="alice", visibility="public"),
}


def build_world(root: Any, labels: tuple[str, ...] = tuple(REQUESTS), parameters: dict[str, str] | None = None,
                log: Any = None) -> Iterator[World]:
    """Deploy, publish ``labels`` through the pipeline, start the edge; yield; tear down."""
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    wiring.reset()
    with mock_aws():
        stack = LocalStack(root, endpoint_url=None, parameters=parameters).deploy()
        runtime = LocalRuntime(stack, log=log)
        sqs = stack.client("sqs")
        queue = stack.function("generate").triggers[0].queue_url
        world_assets = {}
        for label in labels:
            request = GenerationRequest(client_request_id=f"world-{label}", model_id="local", **REQUESTS[label])
            sqs.send_message(QueueUrl=queue, MessageBody=request.model_dump_json())
            world_assets[label] = derived_asset_id("generate", request.requester, request.client_request_id)
        assert runtime.drain(timeout=180)
        clock = Clock()
        edge = edge_for(stack, runtime, clock=clock)
        edge.start()
        try:
            world = World(stack, runtime, edge, clock, world_assets)
            for label, asset_id in world_assets.items():
                assert (world.store.asset(asset_id) or {}).get("status") == "published", label
            yield world
        finally:
            edge.stop()
    wiring.reset()
    os.environ.clear()
    os.environ.update(saved)


def body_json(response: Response) -> dict[str, Any]:
    return json.loads(response.body)
