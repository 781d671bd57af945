"""Fixtures of the server tests (see :mod:`tests.server.support`).

* ``served_template`` (session): the served ledger built once, with its key files;
* ``served``: that ledger copied into the test's own ``tmp_path`` (a test may append to it,
  revoke keys, tamper with it); the key files are shared and read-only;
* ``app``: ``create_app(served.config())``;
* ``client_for``: ``client_for(label)`` is an in-process client (TestClient over ``app``,
  started) whose every request is signed with that person's key; ``client_for(label,
  base_url=url)`` talks to a running server instead; ``client_for(None)`` signs nothing;
* ``live_server``: ``live_server(config_or_app)`` runs it under uvicorn on 127.0.0.1 and
  returns its base URL (stopped at the end of the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ledger.integrity.signing import Signer
from ledger.server.app import create_app
from ledger.server.config import ServerConfig
from tests.server.support import Served, build_ledger, running_server, signed_client

ClientFor = Callable[..., httpx.Client]
LiveServer = Callable[[FastAPI | ServerConfig], str]


@pytest.fixture(scope="session")
def served_template(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_ledger(tmp_path_factory.mktemp("served"))


@pytest.fixture
def served(served_template: Served, tmp_path: Path) -> Served:
    return served_template.copy_to(tmp_path)


@pytest.fixture
def app(served: Served) -> FastAPI:
    return create_app(served.config())


@pytest.fixture
def client_for(served: Served, app: FastAPI) -> Iterator[ClientFor]:
    with ExitStack() as stack:

        def make(
            who: str | Signer | None, *, base_url: str | None = None, on: FastAPI | None = None
        ) -> httpx.Client:
            signer = served.signer(who) if isinstance(who, str) else who
            target = None if base_url is not None else (on or app)
            client = signed_client(signer, base_url=base_url, app=target)
            return stack.enter_context(client)

        yield make


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    with ExitStack() as stack:

        def start(app_or_config: FastAPI | ServerConfig) -> str:
            return stack.enter_context(running_server(app_or_config))

        yield start
