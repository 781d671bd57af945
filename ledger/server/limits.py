"""How large a request may be: refused before it is read whole (413 problem).

A recording body (``POST /v1/commands/prepare``, which may carry a whole import file) may hold
:data:`PREPARE_LIMIT` bytes, the import file limit and room for the members around its lines;
every other request :data:`OTHER_LIMIT`. A ``Content-Length`` beyond the limit is refused at
once; a body sent without one (chunked) is counted as it arrives and refused as soon as it
passes the limit.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.input_limits.limits import MAX_FILE_BYTES, MAX_LINE_BYTES
from ledger.server.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

PREPARE_PATH = "/v1/commands/prepare"
PREPARE_LIMIT = MAX_FILE_BYTES + MAX_LINE_BYTES
OTHER_LIMIT = 1024 * 1024


def limit_of(path: str) -> int:
    return PREPARE_LIMIT if path == PREPARE_PATH else OTHER_LIMIT


class BodyLimit:
    """ASGI middleware refusing request bodies larger than their route's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_of(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit, declared)
            return
        seen = 0
        state = {"started": False, "refused": False}

        async def counted() -> Message:
            nonlocal seen
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not state["started"]:
                    # Answered here; the app sees the client gone and its answer is dropped.
                    state["refused"] = True
                    await _refuse(scope, send, limit, None)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            if state["refused"]:
                return
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, send: Send, limit: int, declared: int | None) -> None:
    size = f"{declared:,} bytes" if declared is not None else f"more than {limit:,} bytes"
    problem: dict[str, Any] = {
        "type": PROBLEM_BASE + "too-large",
        "title": "Request too large",
        "status": 413,
        "detail": f"body of {size} refused: {scope['path']} takes at most {limit:,} bytes",
        "instance": scope["path"],
        "field": "body",
        "value": size,
    }
    body = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
