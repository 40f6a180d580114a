"""BedrockImageModel against a real bedrock-runtime client stubbed with the service model."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from PIL import Image

from imagepipe.errors import PromptRejectedError, RejectedInputError, TransientError
from imagepipe.generation.bedrock import NOVA_CANVAS, SUPPORTED_BEDROCK_MODELS, TITAN_IMAGE_V2, BedrockImageModel
from imagepipe.generation.base import GenerationSpec
from imagepipe_tools.local_model import LocalImageModel
from imagepipe.generation.registry import model_for


class JsonBody:
    """Matches a request body string whose JSON equals ``expected``."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str | bytes) and json.loads(other) == self.expected

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"


def _png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _response(payload: dict[str, Any] | bytes) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


SPEC = GenerationSpec(
    prompt="a lighthouse in a storm, oil painting",
    negative_prompt="people, text",
    width=1280,
    height=720,
    seed=2_147_483_646,
)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("bedrock-runtime", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _expect(
    stubber: Stubber, model_id: str, body: dict[str, Any], response: dict[str, Any]
) -> None:
    stubber.add_response(
        "invoke_model",
        response,
        expected_params={
            "modelId": model_id,
            "body": JsonBody(body),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )


def test_nova_canvas_request_and_response(client: Any, stubber: Stubber) -> None:
    """GIVEN Nova Canvas answering with one base64 PNG
    WHEN a spec with negative prompt, 1280x720 and the largest allowed seed is generated
    THEN the exact TEXT_IMAGE body is sent, the PNG bytes come back decoded and the
    recorded parameters are the body that was sent."""
    png = _png()
    body = {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {
            "text": "a lighthouse in a storm, oil painting",
            "negativeText": "people, text",
        },
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "width": 1280,
            "height": 720,
            "cfgScale": 6.5,
            "seed": 2_147_483_646,
            "quality": "standard",
        },
    }
    _expect(stubber, NOVA_CANVAS, body, _response({"images": [base64.b64encode(png).decode()]}))

    image = BedrockImageModel(client, NOVA_CANVAS).generate(SPEC)

    assert image.png == png
    assert image.model_id == NOVA_CANVAS
    assert image.model_version == "v1:0"
    assert image.parameters == body
    assert json.loads(json.dumps(image.parameters)) == body
    assert "png" not in repr(image).split("model_id")[0]


@pytest.mark.parametrize("negative", [None, "", "   "])
def test_titan_v2_request_without_negative_text(
    client: Any, stubber: Stubber, negative: str | None
) -> None:
    """GIVEN Titan Image Generator v2 and no usable negative prompt
    WHEN an image is generated
    THEN negativeText is left out (the API needs at least 1 character), Titan's own
    cfgScale default is used and a response with a null error is accepted."""
    png = _png()
    spec = GenerationSpec("a red fox", negative, width=1024, height=1024, seed=0)
    body = {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a red fox"},
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "width": 1024,
            "height": 1024,
            "cfgScale": 8.0,
            "seed": 0,
            "quality": "standard",
        },
    }
    _expect(
        stubber,
        TITAN_IMAGE_V2,
        body,
        _response({"images": [base64.b64encode(png).decode()], "error": None}),
    )
    image = BedrockImageModel(client, TITAN_IMAGE_V2).generate(spec)
    assert image.png == png
    assert image.model_version == "v2:0"


@pytest.mark.parametrize(
    ("model_id", "spec"),
    [
        (NOVA_CANVAS, GenerationSpec("x" * 1025, None, 1024, 1024, 1)),
        (NOVA_CANVAS, GenerationSpec("   ", None, 1024, 1024, 1)),
        (NOVA_CANVAS, GenerationSpec("ok", "n" * 1025, 1024, 1024, 1)),
        (NOVA_CANVAS, GenerationSpec("ok", None, 1024, 1024, 2_147_483_647)),
        (NOVA_CANVAS, GenerationSpec("ok", None, 1024, 1024, -1)),
        (NOVA_CANVAS, GenerationSpec("ok", None, 256, 256, 1)),
        (NOVA_CANVAS, GenerationSpec("ok", None, 2064, 2048, 1)),
        (NOVA_CANVAS, GenerationSpec("ok", None, 1600, 320, 1)),
        (NOVA_CANVAS, GenerationSpec("ok", None, 1000, 1000, 1)),
        (TITAN_IMAGE_V2, GenerationSpec("x" * 513, None, 1024, 1024, 1)),
        (TITAN_IMAGE_V2, GenerationSpec("ok", "n" * 513, 1024, 1024, 1)),
    ],
)
def test_specs_outside_model_limits_are_refused_before_calling(
    client: Any, stubber: Stubber, model_id: str, spec: GenerationSpec
) -> None:
    """GIVEN a spec breaking a documented limit (text length, empty prompt, seed range,
    Nova's 320 px minimum, 4.19 MP maximum, 4:1 aspect ratio, multiples of 16)
    WHEN it is generated
    THEN RejectedInputError('invalid_parameters') is raised and Bedrock is never called."""
    with pytest.raises(RejectedInputError) as info:
        BedrockImageModel(client, model_id).generate(spec)
    assert info.value.reason == "invalid_parameters"


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "InternalServerException",
        "ModelNotReadyException",
        "ServiceQuotaExceededException",
        "ModelErrorException",
    ],
)
def test_retryable_errors_become_transient(client: Any, stubber: Stubber, code: str) -> None:
    """GIVEN Bedrock throttling, timing out or unavailable
    WHEN an image is generated
    THEN TransientError is raised so SQS retries the message."""
    stubber.add_client_error("invoke_model", service_error_code=code, service_message="later")
    with pytest.raises(TransientError, match=code):
        BedrockImageModel(client, NOVA_CANVAS).generate(SPEC)


@pytest.mark.parametrize(
    "message",
    [
        "This request has been blocked by our content filters.",
        "The generated image has been blocked by our content filters.",
        "The prompt violates the Responsible AI policy.",
    ],
)
def test_content_filter_refusals_reject_the_prompt(
    client: Any, stubber: Stubber, message: str
) -> None:
    """GIVEN a ValidationException from the model's content filters
    WHEN an image is generated
    THEN PromptRejectedError('model_refused') carries the model's message."""
    stubber.add_client_error(
        "invoke_model", service_error_code="ValidationException", service_message=message
    )
    with pytest.raises(PromptRejectedError) as info:
        BedrockImageModel(client, NOVA_CANVAS).generate(SPEC)
    assert info.value.reason == "model_refused"
    assert info.value.detail == message


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
    ],
)
def test_permanent_errors_reject_the_request(
    client: Any, stubber: Stubber, code: str, status: int
) -> None:
    """GIVEN a non-filter validation error, missing model access or an unknown model
    WHEN an image is generated
    THEN RejectedInputError('model_error') is raised (not a prompt rejection)."""
    stubber.add_client_error(
        "invoke_model",
        service_error_code=code,
        service_message="width must be one of the supported sizes",
        http_status_code=status,
    )
    with pytest.raises(RejectedInputError) as info:
        BedrockImageModel(client, TITAN_IMAGE_V2).generate(
            GenerationSpec("ok", None, 1024, 1024, 1)
        )
    assert type(info.value) is RejectedInputError
    assert info.value.reason == "model_error"
    assert code in info.value.detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"images": [], "error": "Image generation was blocked"}, "model_refused"),
        ({"images": []}, "model_refused"),
        ({"error": None}, "model_refused"),
        ({"images": ["!!not base64!!"]}, "model_error"),
        ({"images": [base64.b64encode(b"GIF89a....").decode()]}, "model_error"),
        ({"images": [42]}, "model_error"),
        (b"<html>oops</html>", "model_error"),
        (b"[]", "model_error"),
    ],
)
def test_unusable_responses_are_rejected(
    client: Any, stubber: Stubber, payload: dict[str, Any] | bytes, reason: str
) -> None:
    """GIVEN a 200 response with an error, no image, bad base64, a non-PNG image or
    a body that is not a JSON object
    WHEN an image is generated
    THEN RejectedInputError is raised with model_refused (the model declined) or
    model_error (the answer is unusable)."""
    stubber.add_response("invoke_model", _response(payload))
    with pytest.raises(RejectedInputError) as info:
        BedrockImageModel(client, NOVA_CANVAS).generate(SPEC)
    assert info.value.reason == reason


def test_network_errors_are_transient(client: Any) -> None:
    """GIVEN the Bedrock endpoint unreachable
    WHEN an image is generated
    THEN TransientError is raised, chained to the botocore error."""
    error = EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    def fail(**_: Any) -> None:
        raise error

    client.meta.events.register("before-call.bedrock-runtime.InvokeModel", fail)
    with pytest.raises(TransientError) as info:
        BedrockImageModel(client, NOVA_CANVAS).generate(SPEC)
    assert info.value.__cause__ is error


def test_model_for_picks_models_and_builds_clients_lazily() -> None:
    """GIVEN a Bedrock client factory that counts its calls
    WHEN model_for is asked for 'local', each supported Bedrock id and an unknown id
    THEN 'local' needs no client, Bedrock ids get one client each, and an unknown id
    raises RejectedInputError('unknown_model') without building a client."""
    calls: list[int] = []

    def factory() -> object:
        calls.append(1)
        return object()

    assert isinstance(model_for("local", bedrock_client=factory), LocalImageModel)
    assert calls == []
    for model_id in sorted(SUPPORTED_BEDROCK_MODELS):
        model = model_for(model_id, bedrock_client=factory)
        assert isinstance(model, BedrockImageModel) and model.model_id == model_id
    assert len(calls) == 2
    for unknown in ("stability.sd3-large-v1:0", "us.amazon.nova-canvas-v1:0", ""):
        with pytest.raises(RejectedInputError) as info:
            model_for(unknown, bedrock_client=factory)
        assert info.value.reason == "unknown_model"
    assert len(calls) == 2
    with pytest.raises(RejectedInputError):
        BedrockImageModel(object(), "amazon.titan-image-generator-v1")


@pytest.mark.parametrize(("width", "height"), [(2048, 2048), (4096, 1024), (320, 1280), (320, 320)])
def test_nova_size_limits_are_inclusive(width: int, height: int) -> None:
    """GIVEN sizes exactly at Nova's limits (4,194,304 px, 4096 px side, 4:1, 320 px side)
    WHEN the request body is built
    THEN it is accepted with the size unchanged."""
    body = BedrockImageModel(object(), NOVA_CANVAS).request_body(
        GenerationSpec("ok", None, width, height, 5)
    )
    assert (body["imageGenerationConfig"]["width"], body["imageGenerationConfig"]["height"]) == (
        width,
        height,
    )
