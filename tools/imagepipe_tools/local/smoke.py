"""The smoke suite's endpoints on the embedded stack, so `imagepipe_tools.smoke.run` tests it as it
tests a deployed one: the stack's outputs (resolved from template.yaml), the local edge for the CDN,
the Function URLs on loopback with SigV4 checked (`FunctionUrls`), sessions of an app role and of
the reviewer role from ``sts:AssumeRole``, and the pipeline's pollers running meanwhile.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import boto3

from imagepipe_tools.local.edge import edge_for
from imagepipe_tools.local.function_url_server import ACCOUNT, FunctionUrls
from imagepipe_tools.local.runtime import LocalRuntime
from imagepipe_tools.local.stack import LocalStack
from imagepipe_tools.smoke import Endpoints

APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/imagepipe-local-app"  # the app backend that calls sign-url


@contextlib.contextmanager
def serving(stack: LocalStack, runtime: LocalRuntime) -> Iterator[Endpoints]:
    """``stack`` served as a deployed stack is: edge, Function URLs and pollers, until the block ends."""
    stop = threading.Event()
    pollers = threading.Thread(target=runtime.run, args=(stop,), name="smoke-pollers", daemon=True)
    with edge_for(stack, runtime) as edge, FunctionUrls(runtime) as urls:
        pollers.start()
        try:
            operator = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                             region_name=stack.region)
            yield Endpoints.from_stack(operator, stack.stack_name, {**stack.outputs(), **urls.urls}, stack.parameters,
                                       app_role_arn=APP_ROLE, cdn_base=edge.url, endpoint_url=stack.endpoint_url)
        finally:
            stop.set()
            pollers.join(timeout=60)


@contextlib.contextmanager
def embedded_endpoints(root: Path, parameters: Mapping[str, str] | None = None) -> Iterator[Endpoints]:
    """A one-shot embedded stack (moto server on loopback) served for the smoke suite (`imagepipe smoke --embedded`)."""
    from imagepipe_tools.local.embedded import EmbeddedAws, use_endpoint
    from imagepipe_tools.local.logs import function_log

    aws = EmbeddedAws()
    endpoint = aws.start()
    use_endpoint(endpoint)
    try:
        stack = LocalStack(root, endpoint_url=endpoint, parameters=dict(parameters or {})).deploy()
        with function_log(root) as log, serving(stack, LocalRuntime(stack, log=log)) as endpoints:
            yield endpoints
    finally:
        aws.stop()
