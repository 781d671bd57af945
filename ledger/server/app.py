"""The ASGI application (:func:`create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal

import anyio.to_thread
from fastapi import FastAPI, Request
from pydantic import BaseModel

from ledger.server import problems
from ledger.server.access.caller import Caller
from ledger.server.config import ServerConfig
from ledger.server.limits import BodyLimit
from ledger.server.state import ServerState

API_VERSION = "v1"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - once

    try:
        return version("trial-ledger")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "0"


def create_app(
    config: ServerConfig, *, authenticate: Callable[[Request], Caller] | None = None
) -> FastAPI:
    """The served ledger: the /v1 JSON API, its OpenAPI document at /v1/openapi.json, the
    live feed and the monitor's pages. ``authenticate`` replaces the request authentication
    (tests of a route alone; never the served app)."""
    from ledger.server.access import authentication  # noqa: PLC0415 - after config
    from ledger.server.api import feed, log, projections, recording  # noqa: PLC0415
    from ledger.server.pages import router as pages_router  # noqa: PLC0415

    state = ServerState(config)

    lifespan = _lifespan(state)

    app = FastAPI(
        title="trial-ledger",
        version=_version(),
        summary="The signed, hash-chained ledger of trial NCT00635154, served.",
        openapi_url=f"/{API_VERSION}/openapi.json",
        docs_url=None,  # its page loads scripts from a CDN; the document is at openapi_url
        redoc_url=None,
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
    )
    app.state.server = state
    app.add_api_route(
        f"/{API_VERSION}/health",
        _health,
        methods=["GET"],
        response_model=Health,
        summary="Whether the server answers (no authentication; names nothing of the ledger)",
        tags=["health"],
    )
    app.state.authenticate = authenticate or authentication.authenticator(state)
    problems.install(app)
    app.add_middleware(BodyLimit)
    for router in (
        authentication.router,
        log.router,
        projections.router,
        feed.router,
        recording.router,
        pages_router,
    ):
        app.include_router(router)
    return app


def _lifespan(state: ServerState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the feed's threads and the access parts start with the first run
    of the app and stop with the last (a test may start one app from two clients)."""
    from ledger.server.access import authentication  # noqa: PLC0415 - after config
    from ledger.server.api import feed  # noqa: PLC0415

    running = [0]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = state.config.threads
        running[0] += 1
        if running[0] == 1:
            for start in (feed.start, authentication.start):
                await start(state)
        try:
            yield
        finally:
            running[0] -= 1
            if running[0] == 0:
                for stop in (feed.stop, authentication.stop):
                    await stop(state)
                state.close()

    return lifespan


class Health(BaseModel):
    status: Literal["ok"] = "ok"


async def _health() -> Health:
    """For scripts and load balancers: the server is up. Unauthenticated, so it says nothing
    else (not even the ledger's size)."""
    return Health()


def server_state(request: Request) -> ServerState:
    """The running server's shared state (a dependency of every route)."""
    state: ServerState = request.app.state.server
    return state
