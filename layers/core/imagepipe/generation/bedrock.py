"""Amazon Bedrock text-to-image models (Nova Canvas, Titan Image Generator v2).

Both families take the same ``TEXT_IMAGE`` request through ``InvokeModel`` and answer
``{"images": [<base64 PNG>], "error": <str | null>}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imagepipe.errors import PromptRejectedError, RejectedInputError, TransientError
from imagepipe.generation.base import GeneratedImage, GenerationSpec

NOVA_CANVAS = "amazon.nova-canvas-v1:0"
TITAN_IMAGE_V2 = "amazon.titan-image-generator-v2:0"
SUPPORTED_BEDROCK_MODELS = frozenset({NOVA_CANVAS, TITAN_IMAGE_V2})

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SEED = 2_147_483_646

_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "InternalServerException",
        "ModelNotReadyException",
        "ServiceQuotaExceededException",
        "ModelErrorException",
    }
)
_PERMANENT_CODES = frozenset(
    {"ValidationException", "AccessDeniedException", "ResourceNotFoundException"}
)
_REFUSAL = re.compile(r"content filter|blocked|responsible ai", re.IGNORECASE)
_VERSION = re.compile(r"-(v\d+(?::\d+)?)$")


@dataclass(frozen=True)
class _Limits:
    max_text: int
    cfg_scale: float
    # Nova takes any size within bounds; Titan takes a fixed list the service checks itself.
    free_size: bool


_LIMITS: dict[str, _Limits] = {
    NOVA_CANVAS: _Limits(max_text=1024, cfg_scale=6.5, free_size=True),
    TITAN_IMAGE_V2: _Limits(max_text=512, cfg_scale=8.0, free_size=False),
}
_NOVA_MIN_SIDE = 320
_NOVA_MAX_SIDE = 4096
_NOVA_MAX_PIXELS = 4_194_304
_NOVA_MAX_ASPECT = 4


class BedrockImageModel:
    """A Bedrock image model called through an injected ``bedrock-runtime`` client.

    Parameters
    ----------
    client
        A ``boto3`` ``bedrock-runtime`` client. Image generation can take longer than
        botocore's default 60 s read timeout: give the client ``read_timeout=300``.
    model_id : str
        One of ``SUPPORTED_BEDROCK_MODELS``.

    Raises
    ------
    RejectedInputError
        ``unknown_model`` for any other model id.
    """

    def __init__(self, client: Any, model_id: str) -> None:
        if model_id not in SUPPORTED_BEDROCK_MODELS:
            raise RejectedInputError("unknown_model", f"{model_id!r} is not a supported model")
        self._client = client
        self.model_id = model_id
        match = _VERSION.search(model_id)
        self.model_version = match.group(1) if match else model_id

    def request_body(self, spec: GenerationSpec) -> dict[str, Any]:
        """Return the ``TEXT_IMAGE`` request body for ``spec``.

        Raises
        ------
        RejectedInputError
            ``invalid_parameters`` if ``spec`` breaks the model's documented limits.
        """
        limits = _LIMITS[self.model_id]
        prompt = spec.prompt.strip()
        if not prompt or len(prompt) > limits.max_text:
            raise RejectedInputError(
                "invalid_parameters",
                f"{self.model_id} needs a prompt of 1..{limits.max_text} characters",
            )
        negative = (spec.negative_prompt or "").strip()
        if len(negative) > limits.max_text:
            raise RejectedInputError(
                "invalid_parameters",
                f"{self.model_id} accepts a negative prompt of at most "
                f"{limits.max_text} characters",
            )
        if isinstance(spec.seed, bool) or not 0 <= spec.seed <= MAX_SEED:
            raise RejectedInputError("invalid_parameters", f"seed must be in 0..{MAX_SEED}")
        _check_size(self.model_id, limits, spec.width, spec.height)
        text_params: dict[str, Any] = {"text": prompt}
        if negative:  # the API refuses an empty negativeText
            text_params["negativeText"] = negative
        return {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": text_params,
            "imageGenerationConfig": {
                "numberOfImages": 1,
                "width": spec.width,
                "height": spec.height,
                "cfgScale": limits.cfg_scale,
                "seed": spec.seed,
                "quality": "standard",
            },
        }

    def generate(self, spec: GenerationSpec) -> GeneratedImage:
        """Render one image.

        Raises
        ------
        TransientError
            Throttling, timeouts, service or network trouble: worth retrying.
        PromptRejectedError
            ``model_refused``: the model's content filters blocked the request.
        RejectedInputError
            ``model_error`` for other validation, access or unknown-model errors;
            ``model_refused`` for a response with an error or without an image;
            ``invalid_parameters`` for a spec outside the model's limits.
        """
        body = self.request_body(spec)
        try:
            response = self._client.invoke_model(
                modelId=self.model_id,
                body=json.dumps(body),
                contentType="application/json",
                accept="application/json",
            )
            raw = response["body"].read()
        except ClientError as exc:
            raise _map_client_error(self.model_id, exc) from exc
        except BotoCoreError as exc:
            raise TransientError(f"bedrock {self.model_id} unreachable: {exc}") from exc
        png = _png_from_payload(self.model_id, raw)
        return GeneratedImage(
            png=png, model_id=self.model_id, model_version=self.model_version, parameters=body
        )


def _check_size(model_id: str, limits: _Limits, width: int, height: int) -> None:
    problems = []
    if width <= 0 or height <= 0:
        problems.append("sides must be positive")
    elif limits.free_size:
        low, high = _NOVA_MIN_SIDE, _NOVA_MAX_SIDE
        if not (low <= width <= high and low <= height <= high):
            problems.append(f"each side must be {low}..{high} px")
        if width % 16 or height % 16:
            problems.append("each side must be a multiple of 16")
        if width * height > _NOVA_MAX_PIXELS:
            problems.append(f"at most {_NOVA_MAX_PIXELS} pixels")
        if max(width, height) > _NOVA_MAX_ASPECT * min(width, height):
            problems.append(f"aspect ratio at most {_NOVA_MAX_ASPECT}:1")
    if problems:
        raise RejectedInputError(
            "invalid_parameters",
            f"{model_id} cannot render {width}x{height}: {'; '.join(problems)}",
        )


def _map_client_error(model_id: str, exc: ClientError) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = error.get("Message", "") or code
    detail = f"{model_id} {code}: {message}"
    if code in _TRANSIENT_CODES:
        return TransientError(detail)
    if code == "ValidationException" and _REFUSAL.search(message):
        return PromptRejectedError("model_refused", message)
    if code in _PERMANENT_CODES:
        return RejectedInputError("model_error", detail)
    # Unknown codes are retried; a persistent one ends in the DLQ rather than being lost.
    return TransientError(detail)


def _png_from_payload(model_id: str, raw: bytes) -> bytes:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RejectedInputError("model_error", f"{model_id} returned a non-JSON body") from exc
    if not isinstance(payload, dict):
        raise RejectedInputError("model_error", f"{model_id} returned an unexpected body")
    error = payload.get("error")
    images = payload.get("images")
    if error:
        raise RejectedInputError("model_refused", f"{model_id}: {error}")
    if not isinstance(images, list) or not images:
        raise RejectedInputError("model_refused", f"{model_id} returned no image")
    encoded = images[0]
    if not isinstance(encoded, str):
        raise RejectedInputError("model_error", f"{model_id} returned a non-string image")
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RejectedInputError("model_error", f"{model_id} returned invalid base64") from exc
    if not png.startswith(PNG_SIGNATURE):
        raise RejectedInputError("model_error", f"{model_id} returned an image that is not a PNG")
    return png
