"""RFC 9421 signed requests: what the server takes as a person's request and what it refuses.

Each altered request is the signed request of a registered key changed after signing (or
signed wrongly on purpose); the server must name why it refuses it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.remote.auth import COVERED, sign_request
from ledger.server.app import create_app
from ledger.service import person_key
from tests.server.support import Served, build_ledger, signed_client
from tests.support import new_signer

WHOAMI = "/v1/auth/whoami"
ECHO = "/v1/auth/token"


@pytest.fixture
def plain(app: FastAPI) -> Iterator[httpx.Client]:
    """An in-process client that signs nothing itself (the tests sign and alter)."""
    with signed_client(None, app=app) as client:
        yield client


def signed(
    client: httpx.Client,
    served: Served,
    method: str = "GET",
    url: str = WHOAMI,
    *,
    label: str = "monitor",
    content: bytes | None = None,
    **sign: object,
) -> httpx.Request:
    request = client.build_request(method, url, content=content)
    sign_request(request, served.signer(label), **sign)  # type: ignore[arg-type]
    return request


def altered(
    client: httpx.Client,
    request: httpx.Request,
    *,
    method: str | None = None,
    url: str | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> httpx.Request:
    """``request`` with its signature headers kept and something else changed."""
    kept = {k: v for k, v in request.headers.items() if k not in ("content-length", "host", *drop)}
    kept.update(headers or {})
    body = request.content if content is None else content
    return client.build_request(
        method or request.method, url or str(request.url), content=body or None, headers=kept
    )


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


def test_accepts_a_signed_request_as_its_key(plain: httpx.Client, served: Served) -> None:
    response = plain.send(signed(plain, served, label="coordinator-002"))
    assert response.status_code == 200
    body = response.json()
    assert (body["key_id"], body["role"], body["site"], body["via"]) == (
        served.key_id("coordinator-002"),
        "coordinator",
        "002",
        "signature",
    )


def test_refuses_an_unsigned_request_saying_how_to_sign(plain: httpx.Client) -> None:
    response = plain.get(WHOAMI)
    assert "not signed" in refusal(response)
    assert 'tag="trial-ledger"' in response.headers["accept-signature"]


def test_refuses_a_replayed_request_naming_the_nonce(plain: httpx.Client, served: Served) -> None:
    request = signed(plain, served, nonce="once-only-nonce")
    assert plain.send(request).status_code == 200
    detail = refusal(plain.send(altered(plain, request)))
    assert "nonce 'once-only-nonce' was already used" in detail


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"url": "/v1/auth/whoami?x=1"}, "does not verify"),
        ({"url": "/v1/access-log"}, "does not verify"),
        ({"method": "POST", "url": ECHO}, "does not verify"),
        ({"headers": {"host": "elsewhere.example"}}, "does not verify"),
        ({"drop": ("signature",)}, "no Signature header"),
        ({"drop": ("signature-input",)}, "no Signature-Input header"),
    ],
)
def test_refuses_a_request_changed_after_signing(
    plain: httpx.Client, served: Served, change: dict[str, object], expected: str
) -> None:
    request = signed(plain, served)
    assert expected in refusal(plain.send(altered(plain, request, **change)))  # type: ignore[arg-type]


def test_refuses_a_body_changed_after_signing(plain: httpx.Client, served: Served) -> None:
    request = signed(plain, served, "POST", ECHO, content=b'{"a": 1}')
    detail = refusal(plain.send(altered(plain, request, content=b'{"a": 2}')))
    assert "Content-Digest does not match" in detail


def test_refuses_a_body_its_signature_does_not_cover(plain: httpx.Client, served: Served) -> None:
    request = signed(plain, served, "POST", ECHO)
    detail = refusal(plain.send(altered(plain, request, content=b'{"a": 2}')))
    assert "does not cover content-digest (the request has a body)" in detail


@pytest.mark.parametrize("missing", COVERED)
def test_refuses_a_signature_not_covering_a_required_component(
    plain: httpx.Client, served: Served, missing: str
) -> None:
    covered = tuple(c for c in COVERED if c != missing)
    detail = refusal(plain.send(signed(plain, served, covered=covered)))
    assert f"does not cover {missing}" in detail


@pytest.mark.parametrize(("offset", "word"), [(-3600, "ago"), (3600, "in the future")])
def test_refuses_a_signature_created_outside_the_window(
    plain: httpx.Client, served: Served, offset: int, word: str
) -> None:
    detail = refusal(plain.send(signed(plain, served, now=time.time() + offset)))
    assert f"s {word}; a signature is accepted within 60 s" in detail


def test_refuses_an_expired_signature(plain: httpx.Client, served: Served) -> None:
    detail = refusal(plain.send(signed(plain, served, now=time.time() - 30, lifetime=10)))
    assert "has passed" in detail


def test_refuses_an_unregistered_key(plain: httpx.Client, served: Served) -> None:
    stranger = new_signer()
    request = plain.build_request("GET", WHOAMI)
    sign_request(request, stranger)
    detail = refusal(plain.send(request))
    assert f"key {stranger.key_id} is not registered" in detail


def test_refuses_a_signature_by_another_key_under_a_registered_keyid(
    plain: httpx.Client, served: Served
) -> None:
    request = signed(plain, served, label="monitor")
    forged = signed(plain, served, label="consumer")
    monitor_input = request.headers["signature-input"]
    headers = {"signature": forged.headers["signature"], "signature-input": monitor_input}
    detail = refusal(plain.send(altered(plain, request, headers=headers)))
    assert f"signature by key {served.key_id('monitor')} refused: it does not verify" in detail


def test_refuses_a_wrong_keyid(plain: httpx.Client, served: Served) -> None:
    request = signed(plain, served, label="monitor")
    swapped = request.headers["signature-input"].replace(
        served.key_id("monitor"), served.key_id("auditor")
    )
    detail = refusal(plain.send(altered(plain, request, headers={"signature-input": swapped})))
    assert f"signature by key {served.key_id('auditor')} refused" in detail


def test_refuses_a_signature_without_our_tag(plain: httpx.Client, served: Served) -> None:
    request = signed(plain, served)
    untagged = request.headers["signature-input"].replace('tag="trial-ledger"', 'tag="other"')
    detail = refusal(plain.send(altered(plain, request, headers={"signature-input": untagged})))
    assert 'no signature with tag="trial-ledger"' in detail


def test_refuses_a_revoked_key_from_the_next_request_on(
    plain: httpx.Client, served: Served
) -> None:
    assert plain.send(signed(plain, served, label="data-manager")).status_code == 200
    with served.open() as ledger:
        ledger.revoke_key(
            served.signer("sponsor"), served.key_id("data-manager"), "left the trial", date.today()
        )
    detail = refusal(plain.send(signed(plain, served, label="data-manager")))
    assert "was revoked at position" in detail


def test_refuses_a_key_past_its_expiry(
    plain: httpx.Client, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = new_signer()
    with served.open() as ledger:
        key = person_key(
            temp.public_key, temp.key_id, "Tess Temp", "monitor", "*", expires_on=date(2030, 6, 30)
        )
        ledger.register_key(served.signer("sponsor"), key, "temporary monitor", date(2003, 1, 1))
    request = plain.build_request("GET", WHOAMI)
    sign_request(request, temp)
    assert plain.send(request).status_code == 200
    monkeypatch.setattr("ledger.service.today", lambda: date(2030, 7, 1))
    request = plain.build_request("GET", WHOAMI)
    sign_request(request, temp)
    assert "expired on 2030-06-30" in refusal(plain.send(request))


@pytest.fixture(scope="module")
def mutation_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Served, FastAPI]:
    served = build_ledger(tmp_path_factory.mktemp("mutations"))
    return served, create_app(served.config())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["method", "path", "query", "body"]),
    index=st.integers(min_value=0, max_value=200),
    byte=st.integers(min_value=0x21, max_value=0x7E),
)
def test_any_single_byte_change_of_a_covered_component_is_refused(
    mutation_app: tuple[Served, FastAPI], where: str, index: int, byte: int
) -> None:
    served, app = mutation_app
    with signed_client(None, app=app) as client:
        request = signed(client, served, "POST", "/v1/auth/token?a=1", content=b'{"x":"y"}')
        parts = {
            "method": request.method,
            "path": request.url.raw_path.decode().split("?")[0],
            "query": request.url.query.decode(),
            "body": request.content.decode(),
        }
        original = parts[where]
        i = index % len(original)
        if original[i] == chr(byte) or (where == "path" and chr(byte) in "?#"):
            return
        parts[where] = original[:i] + chr(byte) + original[i + 1 :]
        if where == "method" and not parts["method"].isalpha():
            return
        url = parts["path"] + (f"?{parts['query']}" if parts["query"] else "")
        change = altered(
            client, request, method=parts["method"].upper(), url=url, content=parts["body"].encode()
        )
        if (change.method, str(change.url), change.content) == (
            request.method,
            str(request.url),
            request.content,
        ):
            return  # the change was normalised away (e.g. lower-case method letters)
        response = client.send(change)
        assert response.status_code in (401, 404, 405), response.text
        if response.status_code == 401:
            assert "refused" in response.json()["detail"]
