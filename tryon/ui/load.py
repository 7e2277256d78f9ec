"""``python -m tryon load``: shoppers in parallel against a server on this machine; figures printed.

    python -m tryon load [--clients 4] [--requests 100] [--url http://127.0.0.1:7860/]
                         [--new-sessions] [--pipeline] [--time-limit 600]

Each client is a shopper that sends ``/tryon`` requests with the same person and garment
photos until the requests are used up or the time limit passes. By default it speaks Gradio's
HTTP protocol the way the browser does (upload the photos once per session, join the queue,
read the event stream, download the result images it has not seen); ``--reupload`` uploads and
downloads everything with every request; ``--client gradio`` uses ``gradio_client`` instead
(which re-uploads too, and whose own polling adds tens of milliseconds per request). Without ``--url`` the command
starts its own server (a subprocess with a fresh data folder) and stops it afterwards. Only
loopback addresses are accepted, and clients, requests and time are bounded: this measures,
it does not attack.

Printed: throughput, p50/p95/max latency, the server-side time of the same requests,
errors by kind (a full queue is "busy"), and the server's RSS (read from ``/proc`` five times a
second): at start, its peak during the warm-up, and its peak during each quarter of the run.
Peaks, because the server hands free memory back every sweep: a single reading depends on when
the last sweep ran. With ``--new-sessions`` every request opens a new session, so the growth per
session shows. ``--pipeline`` first times :func:`tryon.pipeline.try_on` in
this process and the same request through the API, alternately, for the API/pipeline ratio.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import TryOnError

MAX_CLIENTS = 64
MAX_REQUESTS = 5000
MAX_TIME_LIMIT_S = 3600
DEFAULT_TIME_LIMIT_S = 600
REQUEST_TIMEOUT_S = 120
SERVER_START_TIMEOUT_S = 180
WARM_UP_REQUESTS = 3  # at least; by default two per client, all clients at once (the peak memory of
# concurrent renders belongs to the warm server, not to the growth the run measures)
WARM_UP_PER_CLIENT = 10
PIPELINE_RUNS = 30
RSS_SAMPLES = 4  # the run's RSS peaks are reported per quarter of its requests
RSS_POLL_S = 0.2
RSS_SETTLE_S = 60.0
RSS_STILL_S = 5.0
RSS_STILL_FRACTION = 0.005
EXAMPLES = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_PERSON = EXAMPLES / "people" / "vitonhd_00034_00.jpg"
DEFAULT_GARMENT = EXAMPLES / "garments" / "vitonhd_09176_00.jpg"
SERVER_SCRIPT = "from tryon.ui import build_demo, launch; launch(build_demo())"
SHOPPER_INPUTS = 5  # person, garment, description, category, renderer
TOTAL_ROW = re.compile(r"\*\*total\*\*\s*\|\s*([\d.]+)\s*ms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running server on this machine (default: start one)")
    parser.add_argument("--clients", type=int, default=4, help=f"parallel clients (1-{MAX_CLIENTS})")
    parser.add_argument("--requests", type=int, default=100, help=f"requests in all (1-{MAX_REQUESTS})")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S,
                        help=f"stop sending after this many seconds (at most {MAX_TIME_LIMIT_S})")
    parser.add_argument("--new-sessions", action="store_true", help="a new session (client) for every request")
    parser.add_argument("--pipeline", action="store_true",
                        help="first compare try_on() in this process with the same request through the API")
    parser.add_argument("--person", type=Path, default=DEFAULT_PERSON)
    parser.add_argument("--garment", type=Path, default=DEFAULT_GARMENT)
    parser.add_argument("--description", default="")
    parser.add_argument("--warm-up", type=int, default=None,
                        help="requests (by all the clients) before measuring (default: ten per client, at least 3)")
    parser.add_argument("--client", choices=("http", "gradio"), default="http",
                        help="http: the browser's protocol (default); gradio: gradio_client")
    parser.add_argument("--reupload", action="store_true",
                        help="http: upload the photos and fetch the images with every request (a script), "
                             "not once per session (a page)")


@dataclasses.dataclass
class Outcome:
    """One request: how long it took, the server's own time for it, or what went wrong."""

    seconds: float
    server_s: float | None = None
    error: str | None = None


def check_loopback(url: str) -> None:
    """Refuse any URL whose host is not a loopback address of this machine.

    Raises:
        TryOnError: not http(s), no host, or a host that resolves off this machine.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TryOnError(f"{url!r} is not an http URL: give e.g. http://127.0.0.1:7860/.")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except OSError as exc:
        raise TryOnError(f"Cannot resolve {parts.hostname!r}: give a loopback address like 127.0.0.1.") from exc
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise TryOnError(f"{parts.hostname} is not this machine: the load test only targets loopback addresses.")


def check_bounds(args: argparse.Namespace) -> None:
    """Refuse counts and times outside the bounds."""
    if not 1 <= args.clients <= MAX_CLIENTS:
        raise TryOnError(f"--clients must be between 1 and {MAX_CLIENTS}.")
    if not 1 <= args.requests <= MAX_REQUESTS:
        raise TryOnError(f"--requests must be between 1 and {MAX_REQUESTS}.")
    if not 0 < args.time_limit <= MAX_TIME_LIMIT_S:
        raise TryOnError(f"--time-limit must be between 1 and {MAX_TIME_LIMIT_S} seconds.")
    if args.warm_up is None:
        args.warm_up = max(WARM_UP_REQUESTS, WARM_UP_PER_CLIENT * args.clients)
    if not 0 <= args.warm_up <= MAX_REQUESTS:
        raise TryOnError(f"--warm-up must be between 0 and {MAX_REQUESTS}.")
    for path in (args.person, args.garment):
        if not Path(path).is_file():
            raise TryOnError(f"{path} does not exist: give a person and a garment photo.")


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of process ``pid`` in MB (from /proc), or None."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssTrace:
    """The server's RSS read every :data:`RSS_POLL_S` in a background thread; peaks by time window.

    Peaks, not single readings: the server hands free heap back every sweep (``malloc_trim``), so a
    single reading depends on when the last sweep ran; the peak of a window is its working set.
    """

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        if pid is not None:
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.samples.append((time.monotonic(), value))
            self._stop.wait(RSS_POLL_S)

    def peak(self, start: float, end: float | None = None) -> float | None:
        """The highest reading between ``start`` and ``end`` (monotonic seconds; None: until now)."""
        end = time.monotonic() if end is None else end
        values = [value for when, value in list(self.samples) if start <= when <= end]
        return max(values) if values else None

    def close(self) -> None:
        self._stop.set()


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` on this machine (found through /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    pids = [str(os.getpid())] + [proc.name for proc in Path("/proc").iterdir() if proc.name.isdigit()]
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            with contextlib.suppress(OSError):  # closed meanwhile
                if os.readlink(fd) in inodes:
                    return int(pid)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TryOnError(f"The server exited at start-up (status {process.returncode}): run `python app.py`.")
        with contextlib.suppress(OSError), urllib.request.urlopen(url.rstrip("/") + "/config", timeout=5) as answer:
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise TryOnError(f"The server at {url} did not answer within {timeout:.0f} s.")


@contextlib.contextmanager
def own_server() -> Iterator[tuple[str, int]]:
    """Start a server in a subprocess (fresh data folder, free loopback port); yields ``(url, pid)``."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="tryon-load-") as data:
        env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
               "TRYON_DATA_DIR": data, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
        log_file = Path(data) / "server.log"
        with open(log_file, "wb") as log:
            process = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT], env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait_ready(url, process, SERVER_START_TIMEOUT_S)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _classify(exc: BaseException) -> str:
    """A short kind for an error: busy, refused (with the message), timeout, connection, or the type."""
    import concurrent.futures

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if isinstance(exc, BusyError) or name == "QueueError" or "queue is full" in text.lower():
        return "busy (queue full)"
    if isinstance(exc, (TimeoutError, concurrent.futures.TimeoutError)) or "Timeout" in name:
        return "timeout"
    if isinstance(exc, RefusedError) or name == "AppError":
        return f"refused: {text[:80]}"
    if isinstance(exc, (ConnectionError, OSError)) or "Connect" in name:
        return f"connection ({name})"
    return f"{name}: {text[:80]}"


def _server_seconds(timings: Any) -> float | None:
    match = TOTAL_ROW.search(str(timings))
    return float(match.group(1)) / 1000 if match else None


class BrowserShopper:
    """A shopper speaking Gradio's HTTP protocol as the browser does (one session, one cookie jar).

    Like a page, it uploads a photo once per session (when it is picked) and fetches an image
    URL once (its image cache); with ``--reupload`` every request uploads its photos again and
    fetches every image, as a ``gradio_client`` script does.
    """

    def __init__(self, url: str, args: argparse.Namespace) -> None:
        import httpx

        self.args = args
        self.http = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)
        config = self.http.get("config")  # the guard's cookie comes with it, as with the page
        config.raise_for_status()
        tryon = next(d for d in config.json()["dependencies"] if d.get("api_name") == "tryon")
        self.fn_index = tryon["id"]
        # Inputs beyond the five a shopper sets (the diffusion options): the page's default values.
        values = {c["id"]: c.get("props", {}).get("value") for c in config.json()["components"]}
        self.defaults = [values.get(component) for component in tryon["inputs"][SHOPPER_INPUTS:]]
        self.session_hash = uuid.uuid4().hex
        self.uploaded: dict[Path, dict[str, Any]] = {}
        self.fetched: set[str] = set()

    def _upload(self, path: Path) -> dict[str, Any]:
        if path in self.uploaded and not self.args.reupload:
            return self.uploaded[path]
        with open(path, "rb") as fh:
            response = self.http.post("gradio_api/upload", files=[("files", (path.name, fh))])
        response.raise_for_status()
        self.uploaded[path] = {"path": response.json()[0], "orig_name": path.name,
                               "meta": {"_type": "gradio.FileData"}}
        return self.uploaded[path]

    def _fetch(self, url: str) -> None:
        if url in self.fetched and not self.args.reupload:
            return
        self.http.get(url).raise_for_status()
        self.fetched.add(url)

    def try_on(self) -> tuple[Any, ...]:
        """One try-on: upload, join, read the event stream to completion, download the images."""
        data = [self._upload(self.args.person), self._upload(self.args.garment), self.args.description,
                "auto", "warp"]
        data += self.defaults
        body = {"data": data, "fn_index": self.fn_index, "session_hash": self.session_hash, "event_data": None,
                "trigger_id": None}
        joined = self.http.post("gradio_api/queue/join", json=body)
        if joined.status_code in (429, 503):
            raise BusyError(joined.json().get("detail", "busy"))
        joined.raise_for_status()
        output = self._completed(joined.json()["event_id"])
        for image in output[0]:
            self._fetch(image["url"])
        return tuple(output)

    def _completed(self, event_id: str) -> list[Any]:
        params = {"session_hash": self.session_hash}
        with self.http.stream("GET", "gradio_api/queue/data", params=params) as stream:
            return completed_output(stream.iter_lines(), event_id)

    def close(self) -> None:
        self.http.close()


class GradioShopper:
    """A shopper using ``gradio_client`` (one ``Client``, one session)."""

    def __init__(self, url: str, args: argparse.Namespace, downloads: Path) -> None:
        from gradio_client import Client

        self.args = args
        self.client = Client(url, verbose=False, download_files=str(downloads))

    def try_on(self) -> tuple[Any, ...]:
        from gradio_client import handle_file

        job = self.client.submit(handle_file(str(self.args.person)), handle_file(str(self.args.garment)),
                                 self.args.description, "auto", "warp", api_name="/tryon")
        return job.result(timeout=REQUEST_TIMEOUT_S)

    def close(self) -> None:
        self.client.close()


def new_shopper(url: str, args: argparse.Namespace, downloads: Path) -> Any:
    """A :class:`BrowserShopper`, or a :class:`GradioShopper` with ``--client gradio``."""
    if args.client == "gradio":
        return GradioShopper(url, args, downloads)
    return BrowserShopper(url, args)


class BusyError(Exception):
    """The server's queue is full."""


class RefusedError(Exception):
    """The server answered the request with an error message."""


def completed_output(lines: Iterable[str], event_id: str) -> list[Any]:
    """The output values of event ``event_id`` from the lines of Gradio's event stream
    (``/gradio_api/queue/data``), as a page reads them.

    Raises:
        RefusedError: the event ended in an error (its message).
        ConnectionError: the stream ended before the event did.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue
        message = json.loads(line[5:])
        if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
            if not message.get("success"):
                raise RefusedError(str((message.get("output") or {}).get("error") or "refused"))
            return message["output"]["data"]
    raise ConnectionError("the event stream ended before the result")


class Load:
    """Shoppers in threads sharing a request budget and a deadline."""

    def __init__(self, url: str, args: argparse.Namespace, downloads: Path) -> None:
        self.url = url
        self.args = args
        self.downloads = downloads
        self.outcomes: list[Outcome] = []
        self._left = args.requests
        self._lock = threading.Lock()
        self.deadline = time.monotonic() + args.time_limit
        self.quarters: list[tuple[int, float]] = []
        self.started = time.monotonic()

    def _shopper(self) -> Any:
        return new_shopper(self.url, self.args, self.downloads)

    def _take(self) -> bool:
        with self._lock:
            if self._left <= 0 or time.monotonic() >= self.deadline:
                return False
            self._left -= 1
            return True

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    @staticmethod
    def request(shopper: Any) -> Outcome:
        """One try-on through the API, timed from the first upload to the downloaded result."""
        start = time.perf_counter()
        try:
            out = shopper.try_on()
        except Exception as exc:  # every failure is counted by kind, none stops the run
            return Outcome(time.perf_counter() - start, error=_classify(exc))
        return Outcome(time.perf_counter() - start, server_s=_server_seconds(out[1]))

    def worker(self) -> None:
        shopper = None
        try:
            while self._take():
                if shopper is None or self.args.new_sessions:
                    if shopper is not None:
                        shopper.close()
                    try:
                        shopper = self._shopper()
                    except Exception as exc:  # the server refused the connection: count it
                        self._record(Outcome(0.0, error=_classify(exc)))
                        shopper = None
                        continue
                self._record(self.request(shopper))
        finally:
            if shopper is not None:
                shopper.close()

    def run(self) -> float:
        """Run all shoppers; returns the wall time in seconds. Notes when each quarter of the requests
        is done (:attr:`quarters`: ``(requests done, monotonic time)``)."""
        start = time.perf_counter()
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.clients)]
        for thread in threads:
            thread.start()
        marks = [round(self.args.requests * q / RSS_SAMPLES) for q in range(1, RSS_SAMPLES + 1)]
        while any(thread.is_alive() for thread in threads):
            time.sleep(RSS_POLL_S)
            with self._lock:
                done = len(self.outcomes)
            while marks and done >= marks[0]:
                self.quarters.append((marks.pop(0), time.monotonic()))
            if time.monotonic() > self.deadline + REQUEST_TIMEOUT_S:
                break
        if not self.quarters or self.quarters[-1][0] != len(self.outcomes):
            self.quarters.append((len(self.outcomes), time.monotonic()))
        return time.perf_counter() - start


def settle(trace: RssTrace) -> None:
    """Wait until the server's RSS has stopped growing for :data:`RSS_STILL_S` (its start-up warm-up
    thread loads the text encoder, the catalog and torch in the background), at most :data:`RSS_SETTLE_S`."""
    deadline, since = time.monotonic() + RSS_SETTLE_S, time.monotonic()
    highest = rss_mb(trace.pid)
    while highest is not None and time.monotonic() < deadline and time.monotonic() - since < RSS_STILL_S:
        time.sleep(RSS_POLL_S)
        now = rss_mb(trace.pid) or 0.0
        if now > highest * (1 + RSS_STILL_FRACTION):
            since = time.monotonic()
        highest = max(highest, now)


def compare_with_pipeline(url: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """p50 of :func:`tryon.pipeline.try_on` in this process and of the same request through the API
    (one shopper, nothing else running), measured in alternation so both meet the same machine load.

    Returns:
        ``(pipeline p50, API p50, median of the per-pair API/pipeline ratios)``; seconds.
    """
    from ..pipeline import try_on

    def pipeline_once() -> float:
        start = time.perf_counter()
        try_on(args.person, args.garment, args.description or None, category="auto", renderer="warp")
        return time.perf_counter() - start

    shopper = new_shopper(url, args, Path(tempfile.gettempdir()))
    try:
        pipeline_once(), Load.request(shopper)  # warm this process's models
        pairs = [(pipeline_once(), Load.request(shopper)) for _ in range(PIPELINE_RUNS)]
    finally:
        shopper.close()
    failed = [outcome.error for _, outcome in pairs if outcome.error]
    if failed:
        raise TryOnError(f"The server refused the comparison requests: {failed[0]}")
    return (statistics.median(p for p, _ in pairs), statistics.median(o.seconds for _, o in pairs),
            statistics.median(o.seconds / p for p, o in pairs))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def _rss_lines(load: Load, rss: dict[str, Any]) -> list[str]:
    """The server's RSS: at start, the peak of the warm-up, the peak of each quarter of the run."""
    trace: RssTrace = rss["trace"]
    bounds = [rss["load_start"], *(when for _, when in load.quarters)]
    quarters = [(done, trace.peak(a, b)) for (done, _), a, b in zip(load.quarters, bounds, bounds[1:], strict=False)]
    during = ", ".join(f"{_mb(value)} up to {done}" for done, value in quarters)
    lines = [f"server RSS: {_mb(rss['started'])} at start; peak {_mb(rss['warm'])} in the warm-up; peak {during}"]
    last = quarters[-1][1] if quarters else None
    if rss["warm"] and last:
        growth = last - rss["warm"]
        sessions = len(load.outcomes) if load.args.new_sessions else load.args.clients
        lines.append(f"growth of the peak, warm-up to last quarter: {growth:+.0f} MB ({growth / rss['warm']:+.1%}); "
                     f"{sessions} sessions: {growth / max(sessions, 1):+.2f} MB per session")
    return lines


def report(load: Load, wall_s: float, rss: dict[str, Any],
           compared: tuple[float, float, float] | None) -> str:
    """The printed figures."""
    ok = [o for o in load.outcomes if o.error is None]
    errors = collections.Counter(o.error for o in load.outcomes if o.error is not None)
    lines = [f"requests: {len(ok)} ok, {sum(errors.values())} failed in {wall_s:.1f} s: "
             f"{len(ok) / wall_s:.2f} requests/s"]
    if ok:
        latency = [o.seconds for o in ok]
        server = [o.server_s for o in ok if o.server_s is not None]
        line = (f"latency: p50 {_percentile(latency, 50):.3f} s, p95 {_percentile(latency, 95):.3f} s, "
                f"max {max(latency):.3f} s")
        if server:
            line += f"; server-side try-on p50 {statistics.median(server):.3f} s"
        lines.append(line)
    lines.append("errors: " + (", ".join(f"{kind}: {n}" for kind, n in errors.most_common()) or "none"))
    lines.extend(_rss_lines(load, rss))
    if compared is not None:
        pipeline_s, api_s, ratio = compared
        lines.append(f"same request, one shopper, alternating {PIPELINE_RUNS}x: pipeline in this process p50 "
                     f"{pipeline_s:.3f} s, through the API p50 {api_s:.3f} s = {api_s / pipeline_s:.2f}x "
                     f"(median of the pairs' ratios {ratio:.2f}x)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """The ``load`` command."""
    check_bounds(args)
    if args.url:
        check_loopback(args.url)
    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url if args.url.endswith("/") else args.url + "/"
            _wait_ready(url, None, SERVER_START_TIMEOUT_S)
            pid = listening_pid(urllib.parse.urlsplit(url).port or 80)
            origin = "given"
        else:
            url, pid = stack.enter_context(own_server())
            origin = "started by this command"
        downloads = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tryon-load-downloads-")))
        print(f"tryon load: {args.clients} clients, {args.requests} requests"
              f"{', a new session each' if args.new_sessions else ''}, against {url} ({origin}, pid {pid})")
        trace = stack.enter_context(contextlib.closing(RssTrace(pid)))
        rss: dict[str, Any] = {"started": rss_mb(pid), "trace": trace}
        warm_start = time.monotonic()
        # The warm-up sends what the run sends (new sessions too, with --new-sessions): the growth then
        # measured is what accumulates, not the working set of a request pattern met for the first time.
        warm = Load(url, argparse.Namespace(**{**vars(args), "requests": args.warm_up}), downloads)
        warm.run()
        settle(trace)
        compared = compare_with_pipeline(url, args) if args.pipeline else None
        rss["warm"] = trace.peak(warm_start)  # the warm-up (and the comparison): the working set
        rss["load_start"] = time.monotonic()
        load = Load(url, args, downloads)
        wall = load.run()
        print(report(load, wall, rss, compared))
    return 0
