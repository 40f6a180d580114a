"""Shared fixtures: AWS in-process (moto) with every resource built from template.yaml."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.pop("AWS_ENDPOINT_URL", None)  # unit and integration tests never leave the process

from moto import mock_aws  # noqa: E402 - after the environment is safe

from imagepipe import wiring  # noqa: E402
from imagepipe_tools import local_model  # noqa: E402

local_model.install()  # the tests, like the embedded stack, may name the offline model

ROOT = Path(__file__).resolve().parents[1]
# Powertools loggers keep the stream they were created with: give them one that stays open.
FUNCTION_LOG = open(os.devnull, "w")  # noqa: SIM115


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def aws() -> Iterator[None]:
    saved = dict(os.environ)
    wiring.reset()
    with mock_aws():
        yield
    wiring.reset()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def c2pa_chain():
    """A root CA -> intermediate -> leaf chain made for this test session (never the developer's)."""
    from imagepipe.provenance.certificates import generate_chain

    return generate_chain(name="imagepipe test")


@pytest.fixture
def stack(aws: None, c2pa_chain):
    """The template's buckets, queues, tables, secrets and keys, created in in-process moto."""
    from imagepipe_tools.local.stack import LocalStack

    return LocalStack(ROOT, endpoint_url=None, c2pa_chain=c2pa_chain).deploy()


@pytest.fixture
def runtime(stack):
    """The real handlers, invoked as Lambda's SQS event source mappings would."""
    from imagepipe_tools.local.runtime import LocalRuntime

    return LocalRuntime(stack, log=FUNCTION_LOG)


@pytest.fixture
def log_sink() -> io.StringIO:
    return io.StringIO()
