"""A browser's view of a running Gradio server over plain HTTP, for tests.

One cookie jar and one session id, like a browser tab: it fetches ``/config`` (and with it
the server's cookies), uploads files, joins the queue by function index (private events
included, as the page does) and reads the event stream until the result.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from tryon.ui.load import RefusedError, completed_output

TIMEOUT_S = 120


class BrowserSession:
    """Plain-HTTP client of a Gradio app. ``session_hash`` may be someone else's (a replay)."""

    def __init__(self, url: str, *, session_hash: str | None = None, cookies: bool = True,
                 user_agent: str = "Mozilla/5.0 (test browser)") -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.http = httpx.Client(base_url=self.url, timeout=TIMEOUT_S, headers={"user-agent": user_agent})
        response = self.http.get("config")
        response.raise_for_status()
        self.config = response.json()
        if not cookies:
            self.http.cookies.clear()
        self.session_hash = session_hash or uuid.uuid4().hex

    def component_id(self, elem_id: str) -> int:
        return next(c["id"] for c in self.config["components"] if c.get("props", {}).get("elem_id") == elem_id)

    def dependency(self, api_name: str) -> dict[str, Any]:
        """The config entry of the event named ``api_name``."""
        return next(d for d in self.config["dependencies"] if d.get("api_name") == api_name)

    def fn(self, api_name: str | None = None, *, inputs: list[int] | None = None,
           outputs: list[int] | None = None) -> int:
        """The function index of the event named ``api_name``, or with exactly these inputs and outputs."""
        for dependency in self.config["dependencies"]:
            if api_name is not None and dependency.get("api_name") == api_name:
                return dependency["id"]
            if api_name is None and dependency["inputs"] == inputs and dependency["outputs"] == outputs \
                    and dependency.get("backend_fn"):
                return dependency["id"]
        raise KeyError(api_name or (inputs, outputs))

    def upload(self, path: Path) -> dict[str, Any]:
        with open(path, "rb") as fh:
            response = self.http.post("gradio_api/upload", files=[("files", (Path(path).name, fh))])
        response.raise_for_status()
        return {"path": response.json()[0], "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}

    def join(self, fn_index: int, data: list[Any]) -> httpx.Response:
        body = {"data": data, "fn_index": fn_index, "session_hash": self.session_hash, "event_data": None,
                "trigger_id": None}
        return self.http.post("gradio_api/queue/join", json=body)

    def events(self) -> httpx.Response:
        """Open this session's event stream (the caller reads or closes it)."""
        request = self.http.build_request("GET", "gradio_api/queue/data", params={"session_hash": self.session_hash})
        return self.http.send(request, stream=True)

    def call(self, fn_index: int, data: list[Any]) -> list[Any]:
        """Run one event and return its output values.

        Raises:
            RefusedError: the event ended in an error.
            httpx.HTTPStatusError: the server refused the request itself.
        """
        joined = self.join(fn_index, data)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        stream = self.events()
        try:
            stream.raise_for_status()
            return completed_output(stream.iter_lines(), event_id)
        except ConnectionError as exc:
            raise RefusedError(str(exc)) from exc
        finally:
            stream.close()

    def get(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def close(self) -> None:
        self.http.close()
