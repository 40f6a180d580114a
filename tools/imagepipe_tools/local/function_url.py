"""Lambda Function URL requests as the URL's front end delivers them to a handler."""

from __future__ import annotations

import time
from typing import Any


def function_url_event(method: str, path: str, headers: dict[str, str], body: str | None = None) -> dict[str, Any]:
    """A Lambda Function URL (payload 2.0) request, as the URL's front end delivers it."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "local.lambda-url.us-east-1.on.aws", "user-agent": "imagepipe-local", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local.lambda-url.us-east-1.on.aws",
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "imagepipe-local"},
            "requestId": f"local-{now}",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body,
        "isBase64Encoded": False,
    }
