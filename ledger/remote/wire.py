"""The served log API as a follower reads it (:class:`LogClient`), every answer checked for
its shape before anything of it is used, and the two ways a sync can end badly.

The routes and shapes read (the read API of ``trial-ledger serve``): ``GET /v1/ledger``;
``GET /v1/checkpoint`` (the latest checkpoint, a C2SP signed note, text/plain; 404 when none
is signed yet); ``GET /v1/log/events?after=P`` (``{"events": [bundle events.jsonl lines],
"tree_size", "next_after"}``); ``GET /v1/log/commits?after_seq=S`` (``{"commits": [bundle
commits.jsonl lines], "next_after_seq"}``); ``GET /v1/proof/consistency?from=&to=`` and
``GET /v1/proof/inclusion?position=&tree_size=`` (the RFC 9162 vector shapes of
``ledger.proofs``); ``GET /v1/feed`` (server-sent events ``commit`` and ``checkpoint``).

Nothing the server says is trusted: an answer of the wrong shape is an alarm
(:class:`FollowAlarm`, exit 1) like any other data that does not verify, except at the first
request (a URL that serves no trial ledger at all is a usage error, exit 2). A server that
cannot be reached, times out or answers 5xx is :class:`ServerUnavailable` (exit 2 with
``--once``; a live follower tries again). A refused key (401/403) is an
:class:`~ledger.errors.AuthorisationError` (exit 2).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ledger.bundle.members import COMMIT_MEMBERS, EVENT_MEMBERS, commit_record, members_problem
from ledger.chain import CommitRecord
from ledger.errors import AuthorisationError, StorageError, UsageError, VerificationError

EventTuple = tuple[int, str, int, str, bytes, bytes, int]
"""A served event as the ledger stores it: (position, originator_id, originator_version,
topic, state bytes, leaf hash bytes, commit seq)."""

_NOT_FOUND, _UNAUTHORISED, _FORBIDDEN, _SERVER_ERROR = 404, 401, 403, 500
MAX_ANSWER_BYTES = 256 * 1024 * 1024
"""The most a follower reads of one answer (a page of events is a few megabytes)."""
_UNREADABLE = (ValueError, RecursionError)
"""What ``json`` raises for text that is no JSON, or nested too deep."""


class ServerUnavailable(StorageError):
    """The server could not be reached, timed out or failed (5xx): nothing was changed."""


class FollowAlarm(VerificationError):
    """What the server served does not verify: the mirror stays as it was (exit 1)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class LedgerInfo:
    """``GET /v1/ledger`` as the server claims it (checked later against what verifies)."""

    ledger_id: str
    tree_size: int


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 80 else text[:80] + "…"


class LogClient:
    """The follower's requests to one served ledger, over ``http`` (an ``httpx.Client``
    whose base URL is the server's and whose auth signs each request)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @property
    def url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def _get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        """The answer to ``GET path``, read whole up to :data:`MAX_ANSWER_BYTES` (a server
        sending more is refused rather than filling this machine's memory)."""
        try:
            with self.http.stream("GET", path, params=params) as streamed:
                body = bytearray()
                for chunk in streamed.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise FollowAlarm(
                            0,
                            f"the server's answer to GET {path} exceeds {MAX_ANSWER_BYTES:,} bytes",
                        )
            response = httpx.Response(
                streamed.status_code,
                headers=streamed.headers,
                content=bytes(body),
                request=streamed.request,
            )
        except httpx.TransportError as e:
            raise ServerUnavailable(
                f"cannot reach {self.url} ({type(e).__name__}: {str(e) or 'no answer'})"
            ) from None
        status = response.status_code
        if status in (_UNAUTHORISED, _FORBIDDEN):
            raise AuthorisationError(
                f"{self.url} refused GET {path} ({status}): {_detail(response)}"
            )
        if status >= _SERVER_ERROR:
            raise ServerUnavailable(f"{self.url} failed GET {path} ({status}): {_detail(response)}")
        return response

    def _document(self, path: str, params: dict[str, int] | None = None) -> dict[str, Any]:
        response = self._get(path, params)
        if response.status_code != httpx.codes.OK:
            raise FollowAlarm(
                0,
                f"the server answered GET {path} with {response.status_code}: {_detail(response)}",
            )
        try:
            document = response.json()
        except _UNREADABLE:
            document = None
        if not isinstance(document, dict):
            raise FollowAlarm(0, f"the server's answer to GET {path} is not a JSON object")
        return document

    def ledger_info(self) -> LedgerInfo:
        """``GET /v1/ledger``; a URL serving something else is a usage error."""
        response = self._get("/v1/ledger")
        try:
            document = response.json() if response.status_code == httpx.codes.OK else None
        except _UNREADABLE:
            document = None
        if (
            not isinstance(document, dict)
            or not isinstance(document.get("ledger_id"), str)
            or type(document.get("tree_size")) is not int
        ):
            raise UsageError(
                f"{self.url}: GET /v1/ledger answered {response.status_code} without a ledger "
                "id and tree size; this URL serves no trial ledger (give the URL `trial-ledger "
                "serve` listens on)"
            )
        return LedgerInfo(document["ledger_id"], document["tree_size"])

    def latest_checkpoint(self) -> str | None:
        """The latest signed checkpoint note, or None when the server has signed none."""
        response = self._get("/v1/checkpoint")
        if response.status_code == _NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise FollowAlarm(
                0, f"the server answered GET /v1/checkpoint with {response.status_code}"
            )
        try:
            return response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise FollowAlarm(0, "the server's checkpoint is not UTF-8 text") from None

    def event_pages(self, after: int) -> Iterator[list[EventTuple]]:
        """Pages of events after position ``after``, each event checked for its members
        (not yet for its place or content: that is the caller's and the verifier's)."""
        while True:
            page = self._document("/v1/log/events", {"after": after})
            events = page.get("events")
            if not isinstance(events, list):
                raise FollowAlarm(
                    after + 1, f"the events page after position {after} holds no list of events"
                )
            rows = [_event(item, after) for item in events]
            yield rows
            following = page.get("next_after")
            if following is None or not rows:
                return
            if type(following) is not int or following <= after:
                raise FollowAlarm(
                    after + 1,
                    f"the events page after position {after} names "
                    f"next_after {_shown(following)}, which does not move on",
                )
            after = following

    def commit_pages(self, after_seq: int, ledger_id: str) -> Iterator[list[CommitRecord]]:
        """Pages of commits after seq ``after_seq``, each checked for its members."""
        while True:
            page = self._document("/v1/log/commits", {"after_seq": after_seq})
            commits = page.get("commits")
            if not isinstance(commits, list):
                raise FollowAlarm(0, f"the commits page after seq {after_seq} holds no list")
            records = [_commit(item, ledger_id, after_seq) for item in commits]
            yield records
            following = page.get("next_after_seq")
            if following is None or not records:
                return
            if type(following) is not int or following <= after_seq:
                raise FollowAlarm(
                    0,
                    f"the commits page after seq {after_seq} names "
                    f"next_after_seq {_shown(following)}, which does not move on",
                )
            after_seq = following

    def consistency(self, size1: int, size2: int) -> tuple[bytes, bytes, list[bytes]]:
        """The server's (root1, root2, proof) of tree ``size1`` within ``size2``."""
        path = "/v1/proof/consistency"
        document = self._document(path, {"from": size1, "to": size2})
        return (
            _b64(document.get("root1"), path, "root1"),
            _b64(document.get("root2"), path, "root2"),
            _b64_list(document.get("proof"), path),
        )

    def inclusion(self, position: int, tree_size: int) -> tuple[bytes, bytes, list[bytes]]:
        """The server's (leaf hash, root, proof) of ``position`` in tree ``tree_size``."""
        path = "/v1/proof/inclusion"
        document = self._document(path, {"position": position, "tree_size": tree_size})
        return (
            _b64(document.get("leafHash"), path, "leafHash"),
            _b64(document.get("root"), path, "root"),
            _b64_list(document.get("proof"), path),
        )


def _detail(response: httpx.Response) -> str:
    try:
        document = response.json()
    except _UNREADABLE:
        document = None
    if isinstance(document, dict) and isinstance(document.get("detail"), str):
        return str(document["detail"])[:300]
    return response.text[:120].replace("\n", " ") or response.reason_phrase


def _event(item: object, after: int) -> EventTuple:
    problem = members_problem(item, EVENT_MEMBERS)
    if problem is not None:
        raise FollowAlarm(
            after + 1, f"an event served after position {after} is malformed: {problem}"
        )
    assert isinstance(item, dict)
    return (
        item["position"],
        item["originator_id"],
        item["originator_version"],
        item["topic"],
        item["state"].encode("utf-8"),
        bytes.fromhex(item["leaf_hash"]),
        item["commit"],
    )


def _commit(item: object, ledger_id: str, after_seq: int) -> CommitRecord:
    problem = members_problem(item, COMMIT_MEMBERS)
    if problem is None:
        assert isinstance(item, dict)
        signature = base64.b64decode(item["signature"], validate=True)
        if base64.b64encode(signature).decode() != item["signature"]:
            problem = "member 'signature' is not canonical base64"
    if problem is not None:
        raise FollowAlarm(0, f"a commit served after seq {after_seq} is malformed: {problem}")
    assert isinstance(item, dict)
    return commit_record(
        item,
        ledger_id,
        bytes.fromhex(item["prev_leaf"]),
        bytes.fromhex(item["events_root"]),
        signature,
    )


def _b64(value: object, path: str, member: str) -> bytes:
    raw = b""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != 32 or base64.b64encode(raw).decode() != value:
        raise FollowAlarm(
            0,
            f"the server's {path} member {member!r} is {_shown(value)}, not "
            "canonical base64 of a 32-byte hash",
        )
    return raw


def _b64_list(value: object, path: str) -> list[bytes]:
    if not isinstance(value, list):
        raise FollowAlarm(0, f"the server's {path} member 'proof' is not a list of hashes")
    return [_b64(item, path, "proof") for item in value]
