"""The HTTP guard in front of the Gradio app (an ASGI middleware) and the files only it serves.

Gradio's session id is chosen by the client and travels in URLs (``/gradio_api/queue/data``,
``/gradio_api/heartbeat/<id>``). Whoever copies it can send events into that session. The
guard makes a copied id useless without the browser it belongs to:

- **A private cookie** (``tryon_client``, random, HttpOnly) is set on the first response to
  every browser and to ``gradio_client`` (which keeps the cookies of its ``/config`` call).
- **Session binding**: the first request that uses a session id binds it to that cookie (or
  to "no cookie"); later requests with another cookie, or none, are refused (403).
- **No deep links**: ``/gradio_api/deep_link`` would save any session's component values
  (flag lists, reviewer images) under a URL for anyone who knows the session id: refused.
- **Private files** (:class:`PrivateFiles`): reviewer images and export archives are written
  under ``tryon-private/`` in Gradio's cache and served only by the guard, only to the cookie
  they were made for, and deleted right after their first download.
- **Busy**: when Gradio's queue is full, a browser is told "busy, try again in a moment"
  (``gradio_client`` keeps its own ``QueueError``).

Handlers read who is asking with :func:`client_of`: the address (for throttling) and a digest
of the cookie (never the cookie itself). No Gradio import here: only Starlette's ASGI contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import re
import secrets
import shutil
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import cachetools

from ..store.review import Client

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLIENT_COOKIE = "tryon_client"
COOKIE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
COOKIE_BYTES = 32
BINDING_CHARS = 32  # hex digits of the cookie digest kept as the binding
SCOPE_KEY = "tryon.client"  # the ASGI scope key holding the request's Client
PRIVATE_DIRNAME = "tryon-private"
NO_COOKIE = "-"  # binding of a session first used without a cookie
MAX_SESSIONS_BOUND = 50_000
# JSON bodies are read to find their session id; larger ones are refused (uploads are multipart).
MAX_JSON_BODY_BYTES = 32 * 2**20
PRIVATE_FILE_TTL_S = 300  # a private file not downloaded by then is deleted
PRIVATE_CHUNK_BYTES = 2**16
BUSY_MESSAGE = "The try-on is busy right now: try again in a moment."
DEEP_LINK_SUFFIX = "/gradio_api/deep_link"
SESSION_PATH = re.compile(r"/gradio_api/(?:heartbeat|stream)/([^/]+)")


@dataclasses.dataclass(frozen=True)
class PrivateFile:
    """A file only one browser may download: where it is, whose it is, when it goes."""

    path: Path
    owner: str
    once: bool
    expires: float


class PrivateFiles:
    """Files served only by the guard, only to the cookie they were made for (thread-safe).

    Each file lives in its own random folder under ``<gradio cache>/tryon-private/``; Gradio
    hands out its path as usual, and the guard intercepts every request for it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._files: dict[str, PrivateFile] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def publish(
        self, cache_dir: Path, name: str, owner: str, *, data: bytes | None = None, source: Path | None = None,
        once: bool = True, ttl_s: float = PRIVATE_FILE_TTL_S,
    ) -> Path:
        """Write ``data`` (or copy ``source``) as ``name`` for the browser with binding ``owner``.

        Returns:
            The file's path inside Gradio's cache (give it to a component as its value).
        """
        folder = Path(cache_dir) / PRIVATE_DIRNAME / secrets.token_urlsafe(18)
        folder.mkdir(parents=True)
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        elif source is not None:
            shutil.copyfile(source, path)
        else:
            raise ValueError("give data or source")
        with self._lock:
            self._files[self._key(path)] = PrivateFile(path, owner, once, self._clock() + ttl_s)
        return path

    def adopt(self, path: Path, owner: str, *, once: bool = True, ttl_s: float = PRIVATE_FILE_TTL_S) -> Path:
        """Register a file already written inside a folder of :meth:`private_dir` (e.g. an archive)."""
        with self._lock:
            self._files[self._key(path)] = PrivateFile(Path(path), owner, once, self._clock() + ttl_s)
        return Path(path)

    @staticmethod
    def private_dir(cache_dir: Path) -> Path:
        """A new random folder under ``<cache_dir>/tryon-private`` to write a private file in."""
        folder = Path(cache_dir) / PRIVATE_DIRNAME / secrets.token_urlsafe(18)
        folder.mkdir(parents=True)
        return folder

    def take(self, key: str, binding: str) -> PrivateFile | None:
        """The file for ``key`` (``<folder>/<name>``) when ``binding`` owns it and it is still there.

        A one-time file is forgotten here; the caller deletes it after sending it.
        """
        now = self._clock()
        with self._lock:
            entry = self._files.get(key)
            if entry is None or entry.expires <= now or not secrets.compare_digest(entry.owner, binding):
                return None
            if entry.once:
                del self._files[key]
        return entry if entry.path.is_file() else None

    def expire(self) -> int:
        """Delete files whose time is up; returns how many."""
        now = self._clock()
        with self._lock:
            gone = [key for key, entry in self._files.items() if entry.expires <= now]
            entries = [self._files.pop(key) for key in gone]
        for entry in entries:
            remove_private(entry.path)
        return len(entries)

    @staticmethod
    def _key(path: Path) -> str:
        return f"{Path(path).parent.name}/{Path(path).name}"


def remove_private(path: Path) -> None:
    """Delete a private file and its (otherwise empty) random folder."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: another file of the folder is still waiting
        path.parent.rmdir()


class Guard:
    """What the middleware shares with the handlers: private files and session bindings."""

    def __init__(self, session_ttl_s: float = 3600, clock: Callable[[], float] = time.monotonic) -> None:
        self.private = PrivateFiles(clock)
        self._sessions: cachetools.TTLCache[str, str] = cachetools.TTLCache(
            MAX_SESSIONS_BOUND, ttl=session_ttl_s, timer=clock
        )
        self._lock = threading.Lock()

    def bind(self, session_hash: str, binding: str) -> bool:
        """Bind ``session_hash`` to ``binding`` on first use; False when it belongs to another."""
        with self._lock:
            owner = self._sessions.get(session_hash)
            if owner is None:
                self._sessions[session_hash] = binding
                return True
            self._sessions[session_hash] = owner  # refresh its time to live
        return secrets.compare_digest(owner, binding)

    def expire(self) -> None:
        """Forget idle sessions and delete private files nobody downloaded."""
        with self._lock:
            self._sessions.expire()
        self.private.expire()


@functools.cache
def process_guard() -> Guard:
    """The guard shared by every server of this process (one per process: files and sessions)."""
    return Guard()


def cookie_binding(cookie: str) -> str:
    """The digest of a cookie that bindings keep (the cookie itself is never stored or logged)."""
    return hashlib.sha256(cookie.encode()).hexdigest()[:BINDING_CHARS]


def client_of(request: Any) -> Client:
    """Who sent a Gradio request (``gr.Request``): address and cookie binding (None without a cookie
    or when the guard did not see the request)."""
    inner = getattr(request, "request", None)
    scope = getattr(inner, "scope", None) or {}
    stamped = scope.get(SCOPE_KEY)
    if isinstance(stamped, Client):
        return stamped
    host = getattr(getattr(request, "client", None), "host", None)
    return Client(address=str(host or "unknown"), binding=None)


def guarded(request: Any) -> bool:
    """True when the guard middleware saw this request (the server was started by :func:`tryon.ui.launch`)."""
    inner = getattr(request, "request", None)
    return SCOPE_KEY in (getattr(inner, "scope", None) or {})


class GuardMiddleware:
    """The ASGI middleware: cookie, session binding, no deep links, private files, busy message."""

    def __init__(self, app: ASGIApp, guard: Guard | None = None) -> None:
        self.app = app
        self.guard = guard or process_guard()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = _request_cookie(scope)
        new_cookie = None if cookie else secrets.token_urlsafe(COOKIE_BYTES)
        binding = cookie_binding(cookie) if cookie else None
        client = scope.get("client") or ("unknown", 0)
        scope[SCOPE_KEY] = Client(address=str(client[0]), binding=binding)
        send = _with_cookie(send, new_cookie, _is_https(scope))
        path = urllib.parse.unquote(scope.get("path", ""))  # ASGI decodes once; a file route may again
        if path.endswith(DEEP_LINK_SUFFIX):
            await _respond(send, 404, "Deep links are not available on this server.")
            return
        if f"/{PRIVATE_DIRNAME}/" in path:
            await self._serve_private(scope, path, binding, send)
            return
        receive, session_hash, refused = await self._session_hash(scope, receive)
        if refused:
            await _respond(send, 413, "The request is too large.")
            return
        if session_hash and not self.guard.bind(session_hash, binding or NO_COOKIE):
            log.warning("refused a request for another browser's session from %s", client[0])
            await _respond(send, 403, "This session belongs to another browser: reload the page.")
            return
        if _is_browser_join(scope, path):
            send = _busy_message(send)
        await self.app(scope, receive, send)

    async def _serve_private(self, scope: Scope, path: str, binding: str | None, send: Send) -> None:
        tail = path.split(f"/{PRIVATE_DIRNAME}/", 1)[1]
        fetch = scope.get("method") == "GET" and binding is not None
        entry = self.guard.private.take(tail, binding) if fetch else None
        if entry is None:
            await _respond(send, 404, "This file is not available (it may have been downloaded already).")
            return
        try:
            await _send_file(send, entry.path)
        finally:
            if entry.once:
                remove_private(entry.path)

    async def _session_hash(self, scope: Scope, receive: Receive) -> tuple[Receive, str | None, bool]:
        """The session id a request names (query, path or JSON body) and a ``receive`` that replays the body."""
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("session_hash"):
            return receive, query["session_hash"][0], False
        match = SESSION_PATH.search(scope.get("path", ""))
        if match and scope.get("method") == "GET":
            return receive, match.group(1), False
        if scope.get("method") != "POST" or not _is_json(scope) or "/gradio_api/" not in scope.get("path", ""):
            return receive, None, False
        body, too_large = await _read_body(receive)
        session_hash = None
        if not too_large:
            try:
                data = json.loads(body or b"null")
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("session_hash"), str):
                session_hash = data["session_hash"]
        return _replay(body), session_hash, too_large


def _request_cookie(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, cookie = part.strip().partition("=")
                if key == CLIENT_COOKIE and COOKIE_PATTERN.match(cookie):
                    return cookie
    return None


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


def _is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https" or _header(scope, b"x-forwarded-proto").split(",")[0].strip() == "https"


def _is_json(scope: Scope) -> bool:
    return _header(scope, b"content-type").split(";")[0].strip().lower() == "application/json"


def _is_browser_join(scope: Scope, path: str) -> bool:
    """A browser joining the queue (``gradio_client`` says who it is in its user agent)."""
    joins = path.endswith("/queue/join")
    return scope.get("method") == "POST" and joins and "gradio_client" not in _header(scope, b"user-agent")


def _cookie_header(value: str, https: bool) -> bytes:
    attributes = "Path=/; HttpOnly; " + ("Secure; SameSite=None; Partitioned" if https else "SameSite=Lax")
    return f"{CLIENT_COOKIE}={value}; {attributes}".encode("latin-1")


def _with_cookie(send: Send, cookie: str | None, https: bool) -> Send:
    if cookie is None:
        return send

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"set-cookie", _cookie_header(cookie, https))]
        await send(message)

    return sender


def _busy_message(send: Send) -> Send:
    """Turn Gradio's "queue full" (503, which the browser shows as a generic error) into a clear message."""
    state = {"busy": False}

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 503:
            state["busy"] = True
            body = json.dumps({"detail": BUSY_MESSAGE}).encode()
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() in (b"set-cookie",)]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"retry-after", b"5")]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if state["busy"]:
            return  # Gradio's own body for the replaced response
        await send(message)

    return sender


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes) -> Receive:
    sent = {"done": False}

    async def receive() -> Message:
        if not sent["done"]:
            sent["done"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _respond(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_file(send: Send, path: Path) -> None:
    import mimetypes

    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = [(b"content-type", kind.encode()), (b"content-length", str(path.stat().st_size).encode()),
               (b"cache-control", b"private, max-age=600"), (b"x-content-type-options", b"nosniff")]
    if not kind.startswith("image/"):
        headers.append((b"content-disposition", f'attachment; filename="{path.name}"'.encode("latin-1")))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with open(path, "rb") as fh:
        while chunk := fh.read(PRIVATE_CHUNK_BYTES):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
