"""The demo workload: a small mixed set of requests and uploads through the whole pipeline."""

from __future__ import annotations

import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from imagepipe.ids import derived_asset_id
from imagepipe.models import GenerationRequest
from imagepipe.signed_urls import verify
from imagepipe.stages import generate as generate_stage
from imagepipe_tools.local import gallery
from imagepipe_tools.local import uploads as local_uploads
from imagepipe_tools.local.delivery import edge_lines, run_checks
from imagepipe_tools.local.function_url import function_url_event
from imagepipe_tools.local.provenance import check_published
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack
from imagepipe_tools.procedural import render
from imagepipe_tools.review_console.demo import lines as staff_lines
from imagepipe_tools.review_console.demo import staff_actions

TERMINAL = {"published", "review", "rejected", "taken_down"}

GENERATION_REQUESTS = [
    ("public landscape", dict(prompt="a calm mountain lake at sunrise, mist over the water", seed=7, width=1024,
                              height=1024, requester="alice", visibility="public")),
    ("private scene", dict(prompt="an old lighthouse on a rocky coast at dusk", seed=42, width=1280, height=832,
                           requester="bob", visibility="private")),
    ("wide public", dict(prompt="rolling green hills under a dramatic evening sky", seed=3, width=1536,
                         height=1024, requester="alice", visibility="public")),
    ("needs review", dict(prompt="a medieval weapon on display in a museum hall", seed=11, width=768,
                          height=768, requester="carol", visibility="public")),
    ("kept for review", dict(prompt="a vintage pistol on a velvet cloth", seed=13, width=512, height=512,
                             requester="carol", visibility="private")),
    ("policy reject", dict(prompt="a nude figure on a beach", seed=5, width=512, height=512,
                           requester="mallory", visibility="public")),
]


@dataclass(frozen=True)
class Submitted:
    label: str
    asset_id: str
    source: str


def uploaded_photo(seed: int = 9) -> bytes:
    """A JPEG like a phone would upload: pixels stored sideways with an EXIF rotation flag, and
    GPS coordinates. The published variants must be upright and carry no EXIF."""
    upright = render("a wide valley with a river, seen from a hilltop", seed, 1200, 900)
    image = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPS IFD
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def submit(stack: LocalStack, work: Path, runtime: LocalRuntime) -> list[Submitted]:
    sqs = stack.client("sqs")
    requests_queue = stack.function("generate").triggers[0].queue_url
    submitted: list[Submitted] = []
    for index, (label, fields) in enumerate(GENERATION_REQUESTS):
        request = GenerationRequest(client_request_id=f"demo-{index}", model_id="local", **fields)
        sqs.send_message(QueueUrl=requests_queue, MessageBody=request.model_dump_json())
        asset_id = derived_asset_id(generate_stage.ACTOR, request.requester, request.client_request_id)
        submitted.append(Submitted(label, asset_id, "generate"))
    # A message no handler can parse: it must fail alone and end in the DLQ.
    sqs.send_message(QueueUrl=requests_queue, MessageBody='{"prompt": "no requester", ')

    # Uploads as an app does them: a ticket from upload-url for the user, then the browser's POST.
    uploads = {
        "upload (phone JPEG with GPS)": ("dave", "valley.jpg", uploaded_photo(), "image/jpeg", "public"),
        "corrupt upload": ("erin", "broken.png", (work / "broken.png").read_bytes(), "image/png", "public"),
        "not an image": ("erin", "notes.png", b"these are my notes, not a picture\n" * 20, "image/png", "private"),
    }
    for label, (requester, filename, body, content_type, visibility) in uploads.items():
        uploaded = local_uploads.upload(runtime, body, requester=requester, content_type=content_type,
                                        visibility=visibility, filename=filename)
        submitted.append(Submitted(label, uploaded.asset_id, "upload"))
    return submitted


def broken_png(path: Path) -> None:
    buffer = io.BytesIO()
    render("truncated", 1, 400, 300).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def sign_request(runtime: LocalRuntime, asset_id: str, requester: str) -> tuple[int, dict[str, Any]]:
    event = function_url_event("GET", f"/assets/{asset_id}/urls", {"x-imagepipe-requester": requester})
    response = runtime.invoke(runtime.stack.function("sign_url"), event)
    return response["statusCode"], json.loads(response.get("body") or "{}")


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    found = []
    for logical_id, attributes in stack.attributes.items():
        if "QueueUrl" not in attributes or not attributes["QueueName"].removesuffix(".fifo").endswith("-dlq"):
            continue
        response = sqs.receive_message(QueueUrl=attributes["QueueUrl"], MaxNumberOfMessages=10, VisibilityTimeout=0)
        for message in response.get("Messages", []):
            found.append({"queue": attributes["QueueName"], "body": message["Body"][:200]})
    return found


def collect(stack: LocalStack, runtime: LocalRuntime, submitted: list[Submitted], out: Path) -> dict[str, Any]:
    store = stack.provenance_store()
    s3 = stack.client("s3")
    variants_bucket = stack.function("derivatives").environment["VARIANTS_BUCKET"]
    assets = []
    for item in submitted:
        record = store.asset(item.asset_id) or {"status": "missing"}
        creation = record.get("creation", {})
        entry: dict[str, Any] = {
            "label": item.label,
            "id": item.asset_id,  # the name the summary's readers know it by
            "asset_id": item.asset_id,
            "source": item.source,
            "status": record["status"],
            "reason": record.get("reason"),
            "detail": record.get("rejection", {}).get("detail"),
            "visibility": record.get("visibility") or record.get("rejection", {}).get("visibility"),
            "requester": record.get("requester") or record.get("rejection", {}).get("requester"),
            "model_id": creation.get("model_id"),
            "prompt": creation.get("prompt") or record.get("rejection", {}).get("prompt"),
            "seed": creation.get("seed"),
            "content_sha256": record.get("content_sha256"),
            "moderation": record.get("moderation"),
            "variants": [],
        }
        publication = record.get("publication")
        if publication and record["status"] == "published":
            entry["manifest_key"] = publication["manifest_key"]
            for variant in publication["variants"]:
                body = s3.get_object(Bucket=variants_bucket, Key=variant["key"])
                local = out / variant["key"]
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(body["Body"].read())
                entry["variants"].append(
                    {k: variant[k] for k in ("key", "width", "height", "format", "bytes", "content_type")}
                    | {"cache_control": body.get("CacheControl")}
                )
            manifest = s3.get_object(Bucket=variants_bucket, Key=publication["manifest_key"])["Body"].read()
            (out / publication["manifest_key"]).write_bytes(manifest)
            entry["content_credentials"] = check_published(stack, out, publication)
            status, urls = sign_request(runtime, item.asset_id, entry["requester"])
            if status == 200 and urls["signed"]:
                url = urls["variants"][0]["url"]
                entry["signed_url"] = url
                entry["signed_url_check"] = {
                    "signature": verify(url, stack.public_keys).reason or "valid",
                    "tampered": verify(url.replace("Expires=", "Expires=9"), stack.public_keys).reason,
                    "other_requester_status": sign_request(runtime, item.asset_id, "mallory")[0],
                }
        elif record["status"] == "review":
            entry["sign_status"] = sign_request(runtime, item.asset_id, entry["requester"] or "")[0]
        assets.append(entry)
    return {"assets": assets, "dead_letters": dead_letters(stack)}


def run(stack: LocalStack, runtime: LocalRuntime, out: Path, *, timeout: float = 600, edge: Any = None) -> dict[str, Any]:
    """``edge``: a running `LocalEdge` to serve the results through (else a temporary one)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    broken_png(out / "broken.png")
    started = time.monotonic()
    submitted = submit(stack, out, runtime)
    (out / "broken.png").unlink()
    drained = runtime.drain(timeout=timeout)
    staff = staff_actions(stack, runtime, submitted)  # approve one in review, take one down
    summary = collect(stack, runtime, submitted, out)
    summary["staff"] = staff
    summary["drained"] = drained
    summary["edge"] = run_checks(stack, runtime, summary, out, edge)  # viewers' side, through the local CloudFront
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["invocations"] = {k: vars(v) for k, v in runtime.stats.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "index.html").write_text(gallery.render(summary))
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = [("asset", "what", "status", "reason / variants")]
    for asset in summary["assets"]:
        if asset["variants"]:
            formats = sorted({v["format"] for v in asset["variants"]})
            widths = sorted({v["width"] for v in asset["variants"]})
            total = sum(v["bytes"] for v in asset["variants"])
            what = f"{len(asset['variants'])} variants {'/'.join(formats)} @ {','.join(map(str, widths))}w, {total / 1024:.0f} KiB"
            if asset.get("signed_url"):
                what += f"; signed URL {asset['signed_url_check']['signature']}"
            if asset.get("content_credentials"):
                check = asset["content_credentials"]
                what += f"; C2PA {check['trusted']}/{check['variants']} Trusted, tampered {check['tampered']['state']}"
                what += f", token {check['token']}" if "token" in check else ""
        else:
            what = asset["reason"] or ""
        rows.append((asset["asset_id"][:8], asset["label"], asset["status"], what))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += staff_lines(summary.get("staff"))
    lines += edge_lines(summary)
    for letter in summary["dead_letters"]:
        lines.append(f"dead letter in {letter['queue']}: {letter['body'][:60]}")
    return "\n".join(lines)
