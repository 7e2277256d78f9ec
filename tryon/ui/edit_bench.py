"""``python -m tryon edit-bench``: Try on against "Correct the edit area", through a running server.

    python -m tryon edit-bench [--url http://127.0.0.1:7860/] [--pairs 15] [--person P] [--garment G]

One shopper speaking Gradio's HTTP protocol as the page does (one session and cookie jar; the photos
uploaded once): it opens the edit-area panel once to learn the editor photo's size, then alternates a
Try on with a correction, so both meet the same machine load. A correction is what the page sends
for "Re-render with my corrections": the editor's three images uploaded (background, one layer with a
red "remove" stroke across the chest, composite), the check that keeps the painted area, then the
render. Printed: medians and p90 of each, and the server's own try-on time (its timings table).

Without ``--url`` it starts its own server (a subprocess, fresh data folder, loopback); only loopback
addresses are accepted and the number of pairs is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import TryOnError
from .load import (
    SERVER_START_TIMEOUT_S,
    TOTAL_ROW,
    RefusedError,
    _wait_ready,
    check_loopback,
    completed_output,
    own_server,
)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_PERSON = ASSETS / "people" / "openvto_3_posture.jpg"
DEFAULT_GARMENT = ASSETS / "garments" / "tryon_red_long_sleeve_sweater.jpg"
MAX_PAIRS = 200
REQUEST_TIMEOUT_S = 120
REMOVE_RGBA = (239, 68, 68, 255)  # the editor's red brush
# The stroke, as shares of the editor photo: a band across the chest.
STROKE_ROWS = (0.33, 0.37)
STROKE_COLS = (0.4, 0.6)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running server on this machine (default: start one)")
    parser.add_argument("--pairs", type=int, default=15, help=f"try-on/correction pairs (1-{MAX_PAIRS})")
    parser.add_argument("--person", type=Path, default=DEFAULT_PERSON)
    parser.add_argument("--garment", type=Path, default=DEFAULT_GARMENT)


class Page:
    """The page's side of the protocol: one session, the functions found in ``/config`` by what they do."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)
        config = self.http.get("config")  # the guard's cookie comes with it, as with the page
        config.raise_for_status()
        self.config = config.json()
        self.session_hash = uuid.uuid4().hex
        ids = {c.get("props", {}).get("elem_id"): c["id"] for c in self.config["components"]}
        # What the page sends for an input left as it is: the component's value (sliders refuse None).
        self.defaults = {c["id"]: c.get("props", {}).get("value") for c in self.config["components"]}
        self.editor, self.token = ids["edit-area"], ids["result-token"]
        deps = self.config["dependencies"]
        self.tryon = next(d for d in deps if d.get("api_name") == "tryon")
        self.rerun = next(d for d in deps if d.get("api_name") == "tryon_with_mask")
        self.check = next(d for d in deps if self.editor in d["inputs"] and not d["outputs"] and d.get("backend_fn"))
        self.open_editor = next(d for d in deps if d["inputs"] == [self.token] and d["outputs"] == [self.editor]
                                and d.get("backend_fn"))

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        response = self.http.post("gradio_api/upload", files=[("files", (name, data))])
        response.raise_for_status()
        return {"path": response.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}

    def call(self, dependency: dict[str, Any], data: list[Any]) -> list[Any]:
        """Run one event (the inputs not given keep their components' values) and return its outputs."""
        data = data + [self.defaults.get(i) for i in dependency["inputs"][len(data):]]
        body = {"data": data, "fn_index": dependency["id"], "session_hash": self.session_hash, "event_data": None,
                "trigger_id": None}
        joined = self.http.post("gradio_api/queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        with self.http.stream("GET", "gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
            try:
                return completed_output(stream.iter_lines(), event_id)
            except (RefusedError, ConnectionError) as exc:
                raise TryOnError(str(exc)) from exc

    def fetch(self, url: str) -> bytes:
        response = self.http.get(url)
        response.raise_for_status()
        return response.content

    def close(self) -> None:
        self.http.close()


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def editor_images(background: np.ndarray) -> tuple[bytes, bytes, bytes]:
    """What the page uploads for a correction: the editor's background, a layer with a red stroke across
    the chest, and their composite (PNG bytes, the background's size)."""
    height, width = background.shape[:2]
    layer = np.zeros((height, width, 4), np.uint8)
    rows = slice(int(STROKE_ROWS[0] * height), int(STROKE_ROWS[1] * height))
    cols = slice(int(STROKE_COLS[0] * width), int(STROKE_COLS[1] * width))
    layer[rows, cols] = REMOVE_RGBA
    composite = np.dstack([background[..., :3], np.full((height, width), 255, np.uint8)])
    composite[rows, cols] = REMOVE_RGBA
    return _png(np.dstack([background[..., :3], np.full((height, width), 255, np.uint8)])), _png(layer), \
        _png(composite)


def _seconds(timings: Any) -> float | None:
    match = TOTAL_ROW.search(str(timings))
    return float(match.group(1)) / 1000 if match else None


def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Alternate ``args.pairs`` try-ons and corrections (after one of each to warm up); seconds per step."""
    page = Page(url)
    try:
        photos = [page.upload(path.name, path.read_bytes()) for path in (args.person, args.garment)]
        request = [*photos, "", "auto", "warp"]
        token = page.call(page.tryon, request)[4]
        editor = page.call(page.open_editor, [token])[0]
        background = np.asarray(Image.open(io.BytesIO(page.fetch(editor["background"]["url"]))).convert("RGB"))
        images = editor_images(background)
        times: dict[str, list[float]] = {"try_on": [], "correct": [], "check": [], "render": [], "server_try": []}
        for pair in range(args.pairs + 1):
            start = time.perf_counter()
            output = page.call(page.tryon, request)
            tried = time.perf_counter()
            token = output[4]
            files = [page.upload(name, data) for name, data in zip(("background.png", "layer.png", "composite.png"),
                                                                   images, strict=True)]
            value = {"background": files[0], "layers": [files[1]], "composite": files[2], "id": None}
            page.call(page.check, [*request, value, token])
            checked = time.perf_counter()
            page.call(page.rerun, [*request, *(page.defaults.get(i) for i in page.rerun["inputs"][5:-1]), token])
            done = time.perf_counter()
            if pair == 0:  # warm-up
                continue
            times["try_on"].append(tried - start)
            times["correct"].append(done - tried)
            times["check"].append(checked - tried)
            times["render"].append(done - checked)
            server = _seconds(output[1])
            if server is not None:
                times["server_try"].append(server)
        return times
    finally:
        page.close()


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def report(times: dict[str, list[float]]) -> str:
    """The printed figures."""
    labels = {"try_on": "Try on", "correct": "Correct the edit area (upload + check + render)",
              "check": "  of which upload + check", "render": "  of which render", "server_try": "server-side try-on"}
    lines = [f"{labels[name]}: median {statistics.median(values):.3f} s, p90 {_p90(values):.3f} s"
             for name, values in times.items() if values]
    ratio = statistics.median(c / t for c, t in zip(times["correct"], times["try_on"], strict=True))
    lines.append(f"correction / try-on: median of the pairs' ratios {ratio:.2f}x ({len(times['try_on'])} pairs)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """The ``edit-bench`` command."""
    if not 1 <= args.pairs <= MAX_PAIRS:
        raise TryOnError(f"--pairs must be between 1 and {MAX_PAIRS}.")
    for path in (args.person, args.garment):
        if not Path(path).is_file():
            raise TryOnError(f"{path} does not exist: give a person and a garment photo.")
    with contextlib.ExitStack() as stack:
        if args.url:
            check_loopback(args.url)
            url = args.url if args.url.endswith("/") else args.url + "/"
            _wait_ready(url, None, SERVER_START_TIMEOUT_S)
        else:
            url, _ = stack.enter_context(own_server())
        print(f"tryon edit-bench: {args.pairs} pairs against {url}")
        print(report(measure(url, args)))
    return 0
