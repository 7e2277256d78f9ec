"""The HTTP guard (cookie, session binding, no deep links, private files, busy message) and escaping.

Fast tests: the real middleware in front of a small Starlette app standing in for Gradio's
routes, driven through Starlette's test client. The same behaviour against the real Gradio
server is tested in test_serving.py (slow).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tryon.store.review import Client
from tryon.ui.format import escape_markdown
from tryon.ui.guard import (
    BUSY_MESSAGE,
    CLIENT_COOKIE,
    SCOPE_KEY,
    Guard,
    GuardMiddleware,
    client_of,
    cookie_binding,
)

SEEN: list[Client] = []


async def join(request: Request) -> JSONResponse:
    SEEN.append(request.scope[SCOPE_KEY])
    body = await request.json()
    if body.get("data") == ["full"]:
        return JSONResponse({"detail": "Queue is full. Max size is 1 and size is 1."}, status_code=503)
    return JSONResponse({"event_id": "e1", "echo": body})


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("served by the app")


def make_client(guard: Guard, *, base_url: str = "http://testserver") -> TestClient:
    routes = [
        Route("/gradio_api/queue/join", join, methods=["POST"]),
        Route("/gradio_api/queue/data", ok),
        Route("/gradio_api/heartbeat/{session}", ok),
        Route("/gradio_api/deep_link", ok),
        Route("/gradio_api/file={path:path}", ok, methods=["GET", "HEAD"]),
        Route("/config", ok),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=guard)])
    return TestClient(app, base_url=base_url)


def browser(guard: Guard, **kwargs) -> TestClient:
    client = make_client(guard, **kwargs)
    assert client.get("/config").status_code == 200  # the page load that sets the cookie
    return client


def test_every_browser_gets_a_private_http_only_cookie():
    client = make_client(Guard())
    header = client.get("/config").headers["set-cookie"]
    assert header.startswith(f"{CLIENT_COOKIE}=") and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header
    assert "set-cookie" not in client.get("/config").headers  # only once
    behind_https = make_client(Guard()).get("/config", headers={"x-forwarded-proto": "https"})
    attributes = {part.strip() for part in behind_https.headers["set-cookie"].split(";")}
    assert {"Secure", "SameSite=None", "Partitioned"} <= attributes


def test_a_session_id_belongs_to_the_browser_that_used_it_first():
    guard = Guard()
    owner, thief, script = browser(guard), browser(guard), make_client(guard)
    body = {"data": [1], "fn_index": 0, "session_hash": "s-1"}
    assert owner.post("/gradio_api/queue/join", json=body).status_code == 200
    assert SEEN[-1].binding == cookie_binding(owner.cookies[CLIENT_COOKIE])
    assert owner.post("/gradio_api/queue/join", json=body).json()["echo"] == body  # the body reaches the app
    assert owner.get("/gradio_api/queue/data?session_hash=s-1").status_code == 200
    assert owner.get("/gradio_api/heartbeat/s-1").status_code == 200
    for other in (thief, script):
        assert other.post("/gradio_api/queue/join", json=body).status_code == 403
        assert other.get("/gradio_api/queue/data?session_hash=s-1").status_code == 403
        assert other.get("/gradio_api/heartbeat/s-1").status_code == 403
    # A session first used without a cookie stays usable without one (embedded pages that block cookies;
    # each fresh test client sends its first request without one).
    anonymous = {"data": [1], "fn_index": 0, "session_hash": "s-2"}
    assert make_client(guard).post("/gradio_api/queue/join", json=anonymous).status_code == 200
    assert make_client(guard).post("/gradio_api/queue/join", json=anonymous).status_code == 200
    assert owner.post("/gradio_api/queue/join", json=anonymous).status_code == 403


def test_deep_links_are_refused():
    assert browser(Guard()).get("/gradio_api/deep_link?session_hash=s-1").status_code == 404


def test_private_files_go_once_to_their_owner(tmp_path):
    guard = Guard()
    owner, other = browser(guard), browser(guard)
    path = guard.private.publish(tmp_path, "person.png", cookie_binding(owner.cookies[CLIENT_COOKIE]), data=b"png")
    url = f"/gradio_api/file={path}"
    assert other.get(url).status_code == 404
    assert make_client(guard).get(url).status_code == 404
    assert owner.head(url).status_code == 404  # a HEAD does not use the download up
    response = owner.get(url)
    assert response.status_code == 200 and response.content == b"png"
    assert "private" in response.headers["cache-control"]
    assert not path.exists()
    assert owner.get(url).status_code == 404


def test_private_files_nobody_downloads_are_deleted(tmp_path):
    now = [0.0]
    guard = Guard(clock=lambda: now[0])
    path = guard.private.publish(tmp_path, "export.zip", "x" * 32, data=b"zip", ttl_s=60)
    now[0] = 61
    guard.expire()
    assert not path.exists() and not path.parent.exists()


def test_a_full_queue_says_busy_to_a_browser_and_queue_error_to_gradio_client():
    guard = Guard()
    full = {"data": ["full"], "fn_index": 0, "session_hash": "s-3"}
    answer = browser(guard).post("/gradio_api/queue/join", json=full)
    assert answer.status_code == 429 and answer.json() == {"detail": BUSY_MESSAGE}
    api = browser(guard).post("/gradio_api/queue/join", json={**full, "session_hash": "s-4"},
                              headers={"user-agent": "gradio_client/2.7.2"})
    assert api.status_code == 503  # gradio_client turns this into its QueueError


def test_oversized_json_bodies_are_refused(monkeypatch):
    import tryon.ui.guard as guard_module

    monkeypatch.setattr(guard_module, "MAX_JSON_BODY_BYTES", 1000)
    big = json.dumps({"data": ["x" * 2000], "session_hash": "s-5"})
    answer = browser(Guard()).post("/gradio_api/queue/join", content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_client_of_reads_what_the_guard_stamped():
    stamped = Client(address="1.2.3.4", binding="f" * 32)

    import types

    gradio_request = types.SimpleNamespace(request=types.SimpleNamespace(scope={SCOPE_KEY: stamped}))
    assert client_of(gradio_request) is stamped
    unguarded = types.SimpleNamespace(request=types.SimpleNamespace(scope={}), client=None)
    assert client_of(unguarded).binding is None


@pytest.mark.parametrize("text", [
    "![pixel](http://attacker.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "**loud** _quiet_ `code` ~~gone~~",
    "# heading\n> quote\n- item\n1. item",
    "| a | b |\n|---|---|\n| c | d |",
    "visit www.example.org, http://x.example/y or mail eve@example.com & co; 5 > 3 < 4",
])
def test_escaped_user_text_renders_as_the_same_plain_text(text):
    from markdown_it import MarkdownIt

    # GFM's bare-URL autolinks are checked in the browser (test_ui_flows.py): linkify is not installed here.
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(escape_markdown(text))
    for tag in ("<img", "<a ", "<strong", "<em", "<code", "<h1", "<blockquote", "<li", "<table", "<s>"):
        assert tag not in rendered, rendered
    plain = rendered.replace("<p>", "").replace("</p>", "").replace("<br />", "").replace("\n", " ")
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"), ("&quot;", '"')):
        plain = plain.replace(entity, char)
    assert " ".join(plain.split()) == " ".join(text.split())


def test_private_file_paths_name_their_owner_folder(tmp_path):
    path = Guard().private.publish(tmp_path, "a.png", "o" * 32, data=b"x")
    assert path.parent.parent == Path(tmp_path) / "tryon-private" and path.name == "a.png"
