"""Signing throughput: raw RSA vs botocore's CloudFrontSigner vs what sign-url does per signature.

    .venv/bin/python bench/signing.py [--seconds 1.0] [--rounds 5] [--handler] [--json]

All on one core, single-threaded, with a 2048-bit key (CloudFront's signature is RSA
PKCS#1 v1.5 over SHA-1 of the policy):

* raw RSA       ``key.sign(policy)`` on a policy-sized message: the ceiling;
* botocore      ``CloudFrontSigner.generate_presigned_url`` (canned policy), per URL;
* stage canned  `stages.sign.signed_variant_urls` for an asset with 12 variants + manifest
                (13 signatures per call), with the provenance record already read
                (in-memory store): the handler's signing path, per signature;
* stage wildcard the same asset with one custom policy over ``private/{id}/*``: one
                signature per asset, 13 URLs;
* handler       (``--handler``) the real Lambda handler through LocalRuntime on in-process
                moto (DynamoDB read, Secrets Manager cache, Powertools): informational, the
                moto round trips dominate and say nothing about Lambda's.

Each case is timed against raw RSA in alternating batches of 13 signatures (about 3 ms each)
for ``--seconds``, so a noisy neighbour or a clock change hits both sides of a ratio alike;
each ratio is the median over batch pairs, and the median of ``--rounds`` rounds is reported.
The machine is shared: keep runs short.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from imagepipe.signed_urls import UrlSigner, generate_key_pair
from imagepipe.stages.sign import SigningOptions, signed_variant_urls

ASSET = "0190a4b2-0000-8000-8000-000000000000"
CDN = "d111111abcdef8.cloudfront.net"
VARIANTS = [(w, f) for f in ("avif", "webp", "jpeg") for w in (320, 640, 960, 1280)]


class Store:
    """The provenance record sign-url reads, already in memory."""

    def __init__(self) -> None:
        ext = {"avif": "avif", "webp": "webp", "jpeg": "jpg"}
        self.record = {
            "status": "published", "visibility": "private", "requester": "bob",
            "publication": {
                "manifest_key": f"private/{ASSET}/manifest.json", "width": 1280, "height": 832,
                "variants": [
                    {"key": f"private/{ASSET}/{w}w.0123456789abcdef.{ext[f]}", "width": w, "height": w * 13 // 20,
                     "format": f, "content_type": f"image/{f}", "bytes": 10_000}
                    for w, f in VARIANTS
                ],
            },
        }

    def asset(self, asset_id: str) -> dict[str, Any]:
        return self.record


def rate(work: Callable[[], int], seconds: float) -> float:
    """Units of work per second (work() returns how many units one call did)."""
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        done += work()
    return done / elapsed


def paired(raw: Callable[[], int], other: Callable[[], int], units: int, seconds: float) -> tuple[float, float, float]:
    """Raw RSA and another case timed in alternating batches of ``units`` signatures.

    Returns (raw rate, other rate, median of per-pair other/raw rate ratios).
    """
    raw_time = other_time = 0.0
    raw_done = other_done = 0
    ratios = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        done = 0
        while done < units:
            done += raw()
        middle = time.perf_counter()
        done_other = 0
        while done_other < units:
            done_other += other()
        ended = time.perf_counter()
        raw_time, raw_done = raw_time + middle - started, raw_done + done
        other_time, other_done = other_time + ended - middle, other_done + done_other
        ratios.append((done_other / (ended - middle)) / (done / (middle - started)))
    return raw_done / raw_time, other_done / other_time, statistics.median(ratios)


def cases(private_pem: str) -> dict[str, Callable[[], int]]:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    pad, sha1 = padding.PKCS1v15(), hashes.SHA1()  # noqa: S303 - CloudFront's algorithm
    expires = datetime.now(UTC) + timedelta(minutes=5)
    message = CloudFrontSigner("K", None).build_policy(f"https://{CDN}/private/{ASSET}/640w.0123456789abcdef.avif", expires).encode()
    botocore = CloudFrontSigner("K", lambda m: key.sign(m, pad, sha1))
    signer, store = UrlSigner("K", private_pem), Store()
    canned, wildcard = SigningOptions(), SigningOptions(policy="wildcard")
    urls = len(VARIANTS) + 1

    def stage(options: SigningOptions) -> Callable[[], int]:
        def call() -> int:
            signed_variant_urls(ASSET, "bob", store=store, signer=signer, cdn_domain=CDN, ttl_seconds=300, options=options)
            return urls if options.policy == "canned" else 1
        return call

    return {
        "raw_rsa": lambda: (key.sign(message, pad, sha1), 1)[1],
        "botocore_canned": lambda: (botocore.generate_presigned_url(f"https://{CDN}/private/{ASSET}/a.avif", date_less_than=expires), 1)[1],
        "stage_canned": stage(canned),
        "stage_wildcard": stage(wildcard),
    }


def handler_rates(seconds: float) -> dict[str, float]:
    """Requests per second through the real handler on in-process moto (informational)."""
    import os
    from pathlib import Path

    from moto import mock_aws

    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from imagepipe_tools.local.delivery import sign_asset
    from imagepipe_tools.local.runtime import LocalRuntime
    from imagepipe_tools.local.stack import LocalStack
    from imagepipe.models import ProvenanceEvent

    with mock_aws(), open(os.devnull, "w") as log:
        stack = LocalStack(Path(__file__).resolve().parents[1], endpoint_url=None).deploy()
        runtime = LocalRuntime(stack, log=log)
        from imagepipe.adapters.provenance_store import ProvenanceStore

        store = ProvenanceStore(stack.client("dynamodb"), stack.function("provenance").environment["PROVENANCE_TABLE"])
        publication = Store().record["publication"]
        for kind, status, data in [
            ("created", "created", {"requester": "bob", "visibility": "private"}),
            ("moderated", "approved", {}),
            ("published", "published", {**publication, "variants": [v | {"sha256": "0" * 64} for v in publication["variants"]]}),
        ]:
            store.apply(ProvenanceEvent(event_id=f"{ASSET}:{kind}", asset_id=ASSET, kind=kind, actor="bench", status=status, data=data))
        assert sign_asset(runtime, ASSET, requester="bob")[0] == 200
        return {
            f"handler_{policy}_requests": rate(lambda p=policy: (sign_asset(runtime, ASSET, requester="bob", policy=p), 1)[1], seconds)
            for policy in ("canned", "wildcard")
        }


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=1.0, help="per case per round")
    options.add_argument("--rounds", type=int, default=5)
    options.add_argument("--handler", action="store_true", help="also time the Lambda handler on moto")
    options.add_argument("--json", action="store_true")
    args = options.parse_args(argv)

    private_pem, _ = generate_key_pair()
    work = cases(private_pem)
    urls = len(VARIANTS) + 1
    measured: dict[str, list[tuple[float, float, float]]] = {name: [] for name in work if name != "raw_rsa"}
    for _ in range(args.rounds):
        for name in measured:
            measured[name].append(paired(work["raw_rsa"], work[name], urls, args.seconds))

    def median(name: str, index: int) -> float:
        return statistics.median(m[index] for m in measured[name])

    raw = statistics.median(m[0] for runs in measured.values() for m in runs)
    result: dict[str, Any] = {
        "key_bits": 2048,
        "urls_per_asset": urls,
        "raw_rsa_signatures_per_s": round(raw),
        "botocore_canned_signatures_per_s": round(median("botocore_canned", 1)),
        "botocore_vs_raw": round(median("botocore_canned", 2), 3),
        "handler_canned_signatures_per_s": round(median("stage_canned", 1)),
        "handler_canned_vs_raw": round(median("stage_canned", 2), 3),
        "handler_canned_assets_per_s": round(median("stage_canned", 1) / urls),
        "handler_wildcard_assets_per_s": round(median("stage_wildcard", 1)),
        "handler_wildcard_signatures_vs_raw": round(median("stage_wildcard", 2), 3),
        "handler_wildcard_urls_per_s": round(median("stage_wildcard", 1) * urls),
        "wildcard_speedup_per_asset": round(median("stage_wildcard", 1) / (median("stage_canned", 1) / urls), 1),
        "rounds": args.rounds,
        "seconds_per_case": args.seconds,
    }
    if args.handler:
        result |= {k: round(v, 1) for k, v in handler_rates(args.seconds * 2).items()}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        width = max(map(len, result))
        for name, value in result.items():
            print(f"{name:<{width}}  {value}")
    ok = result["handler_canned_vs_raw"] >= 0.90
    if not ok:
        print("handler signing is below 90% of the raw RSA rate", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
