"""Serving many shoppers (issue 11): memory, review access, throttling, private files, limits, speed.

Live-server tests are marked slow (one server per module, ~10 s to start with the models);
the guard middleware, the result cache and the escaping have fast tests in test_guard.py.

A real Gradio server (``build_demo`` + ``launch_kwargs``, the guard and the session sweep
installed as ``launch`` installs them), real SQLite, the real pipeline on the example photos
in ``assets/``; clients are ``gradio_client`` and plain HTTP sessions that behave like a
browser (:mod:`browser_http`), including replays of someone else's session id.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import time
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from browser_http import BrowserSession, RefusedError
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tryon.config import Settings
from tryon.store.annotations import GRADIO_TMP_DIRNAME, AnnotationStore

REPO = Path(__file__).resolve().parents[1]
PERSON = REPO / "assets/people/vitonhd_00034_00.jpg"
OTHER_PERSON = REPO / "assets/people/vitonhd_05997_00.jpg"
GARMENT = REPO / "assets/garments/vitonhd_09176_00.jpg"
TOKEN = "review-sesame-0123456789"
ANY = "(any)"
LIST_ARGS = (ANY, ANY, ANY, "", "", 1)
MARKDOWN_ATTACK = (
    "see ![pixel](http://attacker.example/p.png) <img src=x onerror=alert(1)> **loud** "
    "[click](javascript:alert(1))\n# heading"
)


def launch_server(settings: Settings) -> Any:
    from tryon.ui.app import build_demo, launch_kwargs

    demo = build_demo(settings)
    demo.launch(**(launch_kwargs(settings) | {"server_port": None, "prevent_thread_lock": True, "quiet": True}))
    return demo


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", "restored-after-the-module")
        settings = Settings(data_dir=tmp_path_factory.mktemp("data"), review_token=TOKEN)
        demo = launch_server(settings)
        try:
            yield types.SimpleNamespace(demo=demo, url=demo.local_url, settings=settings,
                                        store=AnnotationStore(settings.data_dir))
        finally:
            demo.close()


def try_on(client: Client, person: Path = PERSON, garment: Path | None = GARMENT, description: str = "") -> tuple:
    return client.predict(handle_file(str(person)), handle_file(str(garment)) if garment else None, description,
                          "auto", "warp", api_name="/tryon")


def browser_try_on(session: BrowserSession, person: Path = PERSON, garment: Path = GARMENT) -> list[Any]:
    return session.call(session.fn("tryon"), tryon_data(session, person, garment))


def tryon_data(session: BrowserSession, person: Path = PERSON, garment: Path = GARMENT) -> list[Any]:
    """The /tryon inputs: the photos, no description, auto, warp; the diffusion options left to their defaults."""
    data = [session.upload(person), session.upload(garment), "", "auto", "warp"]
    defaults = {c["id"]: c.get("props", {}).get("value") for c in session.config["components"]}
    return data + [defaults[component] for component in session.dependency("tryon")["inputs"][len(data):]]


def unlock(client: Client) -> str:
    return client.predict(TOKEN, "carol", api_name="/review_unlock")[0]


# --------------------------------------------------------------------------- 1. memory


def _held_bytes(value: Any, seen: set[int] | None = None) -> int:
    """Bytes of the arrays and strings reachable from ``value`` (a session's state)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(_held_bytes(k, seen) + _held_bytes(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return sum(_held_bytes(v, seen) for v in value)
    if hasattr(value, "__dict__"):
        return _held_bytes(vars(value), seen)
    return 0


@pytest.mark.slow
def test_a_session_keeps_only_small_things_after_a_try_on(app):
    client = Client(app.url, verbose=False)
    out = try_on(client)
    assert isinstance(out[4], str) and len(out[4]) < 64  # the result's token
    session = app.demo.state_holder.session_data[client.session_hash]
    assert _held_bytes(session.state_data) < 16 * 1024  # was the whole result: ~5 MB per session
    client.close()


def test_results_are_held_in_a_cache_bounded_by_memory_and_time(tmp_path):
    from test_annotations import make_result

    from tryon.ui.results import ResultCache, hold_result

    now = [0.0]
    results = ResultCache(tmp_path / "cache", tmp_path / "held", max_mb=0.2, ttl_s=60, clock=lambda: now[0])
    person = np.random.default_rng(0).integers(0, 256, (192, 128, 3), dtype=np.uint8)
    held = [hold_result(results, make_result(person, seed=n), person_path="p.png", person_key=str(n),
                        garment_path=None, garment_faces=None, description="", category="auto", renderer="warp",
                        owner="me") for n in range(12)]
    assert results.held_mb <= 0.2 and 1 <= len(results) < 12
    dropped = [h for h in held if not h.folder.exists()]
    assert dropped and dropped == held[: len(dropped)]  # oldest first, with their files
    assert not any(h.arrays_dir.exists() for h in dropped) and held[-1].arrays_dir.is_dir()
    newest = held[-1]
    assert results.get(newest.token, "me") is newest
    now[0] += 61
    results.expire()
    assert len(results) == 0 and not newest.folder.exists() and not newest.arrays_dir.exists()
    with pytest.raises(Exception, match="no longer on the server"):
        results.get(newest.token, "me")


def test_a_held_result_rebuilds_its_output_pixel_for_pixel(tmp_path):
    import dataclasses

    from test_annotations import make_result

    from tryon.ui.results import ResultCache, hold_result

    results = ResultCache(tmp_path / "cache", tmp_path / "held", max_mb=10, ttl_s=60)
    kept = make_result(seed=3)  # changes only inside its edit area, as the pipeline promises
    stray = make_result(seed=4)
    stray.image[0, 0] = 255 - stray.person[0, 0]  # a renderer that touched a pixel outside it
    held = {}
    for name, result in (("kept", kept), ("stray", stray)):
        held[name] = hold_result(results, result, person_path="p.png", person_key=None, garment_path=None,
                                 garment_faces=None, description="", category="auto", renderer="warp", owner=None)
        np.testing.assert_array_equal(held[name].output(result.person), result.image)
    assert held["kept"].nbytes < held["stray"].nbytes  # only the edit area's box, not the whole output
    assert held["kept"].image is None and held["stray"].image is None  # the pixels are on disk, not in memory
    with pytest.raises(ValueError):
        dataclasses.replace(held["kept"]).output(kept.person[:10])


@pytest.mark.slow
def test_idle_sessions_and_their_results_expire(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    demo = launch_server(Settings(data_dir=tmp_path / "data", result_ttl_s=5))
    try:
        try_on(Client(demo.local_url, verbose=False))  # loads the models: the next try-on is quick
        client = Client(demo.local_url, verbose=False)
        token = try_on(client)[4]
        shop = demo.tryon_shop
        assert client.session_hash in demo.state_holder.session_data and token in shop.results
        deadline = time.monotonic() + 20
        while client.session_hash in demo.state_holder.session_data or len(shop.results):
            assert time.monotonic() < deadline, "the idle session (or its result) never expired"
            time.sleep(0.25)
        with pytest.raises(AppError, match="no longer on the server"):
            client.predict(token, ["other"], "", False, api_name="/flag")
        client.close()
    finally:
        demo.close()


# --------------------------------------------------------------------------- 2. faces in the garment slot


@pytest.mark.slow
def test_a_person_photo_in_the_garment_slot_is_refused(app):
    client = Client(app.url, verbose=False)
    with pytest.raises(AppError, match="garment photo shows a person"):
        try_on(client, PERSON, OTHER_PERSON)
    assert app.store.count() == 0
    client.close()


# --------------------------------------------------------------------------- 3. replays of a session id


@pytest.mark.slow
def test_replaying_a_reviewers_session_id_opens_nothing(app):
    shopper = Client(app.url, verbose=False)
    shopper.predict(try_on(shopper)[4], ["face"], "private note", True, api_name="/flag")
    reviewer = Client(app.url, verbose=False)
    ticket = unlock(reviewer)
    table = reviewer.predict(*LIST_ARGS, ticket, api_name="/review_list")[0]
    assert len(table["data"]) >= 1  # the reviewer sees the flag

    for cookies in (True, False):  # another browser, or a script without cookies
        attacker = BrowserSession(app.url, session_hash=reviewer.session_hash, cookies=cookies)
        for api_name, data in (("review_list", [*LIST_ARGS, ""]), ("review_export", [ANY, "jsonl", ""]),
                               ("review_detail", [1, ""])):
            assert attacker.join(attacker.fn(api_name), data).status_code == 403
        assert attacker.get(f"gradio_api/queue/data?session_hash={reviewer.session_hash}").status_code == 403
        assert attacker.get(f"gradio_api/deep_link?session_hash={reviewer.session_hash}").status_code == 404
        attacker.close()
    # A leaked ticket is refused from another browser, in that browser's own session.
    thief = Client(app.url, verbose=False)
    with pytest.raises(AppError, match="belongs to another browser"):
        thief.predict(*LIST_ARGS, ticket, api_name="/review_list")
    with pytest.raises(AppError, match="Only annotators"):
        thief.predict(*LIST_ARGS, "", api_name="/review_list")
    for client in (shopper, reviewer, thief):
        client.close()


@pytest.mark.slow
def test_replaying_a_shoppers_session_id_cannot_flag_their_result(app):
    shopper = Client(app.url, verbose=False)
    token = try_on(shopper)[4]
    before = app.store.count()
    attacker = BrowserSession(app.url, session_hash=shopper.session_hash)
    flag_fn = attacker.fn("flag")
    for data in ([token, ["face"], "", True], ["", ["face"], "", True]):
        assert attacker.join(flag_fn, data).status_code == 403
    attacker.close()
    # The token alone (say it leaked) does not flag from another browser either.
    other = Client(app.url, verbose=False)
    with pytest.raises(AppError, match="belongs to another browser session"):
        other.predict(token, ["face"], "", True, api_name="/flag")
    assert app.store.count() == before
    # The shopper can.
    assert "flagged as" in shopper.predict(token, ["face"], "", True, api_name="/flag")
    for client in (shopper, other):
        client.close()


# --------------------------------------------------------------------------- 4. unlock throttle


@pytest.mark.slow
def test_unlock_attempts_through_the_api_lock_the_address_out(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    demo = launch_server(Settings(data_dir=tmp_path / "data", review_token=TOKEN, review_max_failures=3))
    caplog.set_level(logging.WARNING, logger="tryon.store.review")
    try:
        client = Client(demo.local_url, verbose=False)
        for guess in ("aaaa", "bbbb", "cccc"):
            with pytest.raises(AppError, match="Wrong review token"):
                client.predict(guess, "eve", api_name="/review_unlock")
        with pytest.raises(AppError, match="Too many wrong review tokens"):
            client.predict(TOKEN, "eve", api_name="/review_unlock")
        assert any("locked for 127.0.0.1" in record.getMessage() for record in caplog.records)
        client.close()
    finally:
        demo.close()


# --------------------------------------------------------------------------- 5. private files


def _private_urls(outputs: list[Any]) -> list[str]:
    return [value["url"] for value in outputs if isinstance(value, dict) and value.get("url")]


@pytest.mark.slow
def test_reviewer_images_and_exports_are_served_once_to_the_reviewer_only(app):
    shopper = Client(app.url, verbose=False)
    shopper.predict(try_on(shopper)[4], ["garment"], "sleeve", True, api_name="/flag")
    shopper.close()
    reviewer = BrowserSession(app.url)
    unlocked = reviewer.call(reviewer.fn("review_unlock"), [TOKEN, "carol"])
    ticket = unlocked[0]
    flag_id = reviewer.call(reviewer.fn("review_list"), [*LIST_ARGS, ticket])[0]["data"][0][0]
    detail = reviewer.call(reviewer.fn("review_detail"), [flag_id, ticket])
    export = reviewer.call(reviewer.fn("review_export"), ["(any)", "jsonl", ticket])
    urls = _private_urls(detail[1:4]) + _private_urls([export[0]])
    assert len(urls) == 4  # person (consent), garment, output, archive
    cache = Path(app.settings.data_dir).resolve() / GRADIO_TMP_DIRNAME
    files = [p for p in cache.rglob("*") if p.is_file() and "tryon-private" in p.parts]
    assert len(files) == 4

    stranger, cookieless = BrowserSession(app.url), BrowserSession(app.url, cookies=False)
    for url in urls:
        assert stranger.get(url).status_code == 404
        assert cookieless.get(url).status_code == 404
        assert httpx.get(url).status_code == 404
    downloads = [reviewer.get(url) for url in urls]
    assert all(response.status_code == 200 for response in downloads)
    assert Image.open(io.BytesIO(downloads[2].content)).size[0] > 0
    with zipfile.ZipFile(io.BytesIO(downloads[3].content)) as archive:
        assert "records.jsonl" in archive.namelist()
    assert all(reviewer.get(url).status_code == 404 for url in urls)  # deleted right after download
    assert not any(p.is_file() for p in files)
    for session in (reviewer, stranger, cookieless):
        session.close()


# --------------------------------------------------------------------------- 6. description cap


@pytest.mark.slow
def test_a_huge_description_is_refused_and_never_stored(app):
    from tryon.store.annotations import DESCRIPTION_MAX_CHARS

    client = Client(app.url, verbose=False)
    with pytest.raises(AppError, match=f"longer than {DESCRIPTION_MAX_CHARS} characters"):
        try_on(client, description="a red shirt " * 200_000)
    chips = client.predict("x" * (DESCRIPTION_MAX_CHARS + 1), None, api_name="/understand")
    assert "longer than" in chips
    client.close()


# --------------------------------------------------------------------------- 7. escaped Markdown


@pytest.mark.slow
def test_the_reviewers_detail_view_shows_user_text_literally(app):
    from markdown_it import MarkdownIt

    shopper = Client(app.url, verbose=False)
    token = try_on(shopper, description="")[4]
    message = shopper.predict(token, ["other"], MARKDOWN_ATTACK, False, api_name="/flag")
    flag_id = int(message.split("#")[1].split()[0])
    shopper.close()
    reviewer = Client(app.url, verbose=False)
    summary = reviewer.predict(flag_id, unlock(reviewer), api_name="/review_detail")[4]
    rendered = MarkdownIt("commonmark").render(summary)
    for tag in ("<img", "<a ", "<strong>loud", "<h1"):
        assert tag not in rendered, rendered
    assert "![pixel](http://attacker.example/p.png)" in rendered.replace("&lt;", "<")
    reviewer.close()


# --------------------------------------------------------------------------- 8. a cheap response path


@pytest.mark.slow
def test_a_try_on_answers_with_two_jpegs_and_builds_the_panels_only_when_opened(app):
    session = BrowserSession(app.url)
    cache = Path(app.settings.data_dir).resolve() / GRADIO_TMP_DIRNAME
    before = {p for p in cache.rglob("*") if p.is_file()}
    slider, timings, _, _, token, _ = browser_try_on(session)
    new = {p for p in cache.rglob("*") if p.is_file()} - before
    # The uploads and the display images, encoded once as JPEG at the processing size (the "before"
    # image once per person photo); no analysis pictures, no editor image.
    written = {p.name for p in new}
    assert "after.jpg" in written
    assert not {p for p in new if p.suffix in (".png", ".webp")}, written
    assert all(item["url"].endswith(".jpg") for item in slider) and slider[1]["url"].endswith("/after.jpg")
    for item in slider:
        image = Image.open(io.BytesIO(session.get(item["url"]).content))
        assert image.format == "JPEG" and max(image.size) <= app.settings.max_side
    assert "total" in timings

    # Opening the analysis panel builds its four pictures from the held result.
    token_id, analysis_id = session.component_id("result-token"), session.component_id("analysis")
    gallery = session.call(session.fn(inputs=[token_id], outputs=[analysis_id]), [token])[0]
    assert [item["caption"] for item in gallery] == ["pose", "body regions", "edit area", "garment mask"]
    # ... for this browser only.
    other = BrowserSession(app.url)
    with pytest.raises(RefusedError, match="another browser"):
        other.call(other.fn(inputs=[token_id], outputs=[analysis_id]), [token])
    session.close()
    other.close()


@pytest.mark.slow
def test_a_full_queue_tells_the_browser_to_try_again_in_a_moment(tmp_path, monkeypatch):
    from tryon.ui.guard import BUSY_MESSAGE

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    demo = launch_server(Settings(data_dir=tmp_path / "data", queue_size=1, concurrency=1))
    try:
        sessions = [BrowserSession(demo.local_url) for _ in range(6)]
        data = tryon_data(sessions[0])
        fn = sessions[0].fn("tryon")
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda s: s.join(fn, data), sessions))
        busy = [a for a in answers if a.status_code != 200]
        assert busy, [a.status_code for a in answers]
        assert all(a.status_code == 429 and a.json()["detail"] == BUSY_MESSAGE for a in busy)
        assert "try again in a moment" in BUSY_MESSAGE
        for session in sessions:
            session.close()
    finally:
        demo.close()


@pytest.mark.slow
def test_a_plain_demo_launch_still_installs_the_guard(tmp_path, monkeypatch):
    from tryon.ui.app import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", "restored-after-the-test")
    demo = build_demo(Settings(data_dir=tmp_path / "data", review_token=TOKEN))
    demo.launch(prevent_thread_lock=True, quiet=True)  # as a hosting platform might call it
    try:
        config = httpx.get(f"{demo.local_url}config")
        assert "tryon_client=" in config.headers.get("set-cookie", "")
        assert httpx.get(f"{demo.local_url}gradio_api/deep_link?session_hash=x").status_code == 404
        client = Client(demo.local_url, verbose=False)
        assert client.predict(TOKEN, "carol", api_name="/review_unlock")[0]  # the review opens (guarded)
        client.close()
    finally:
        demo.close()


# --------------------------------------------------------------------------- the load tool


def test_the_load_tool_only_targets_loopback_with_bounded_counts(capfd):
    from tryon.cli import main

    for argv, message in (
        (["load", "--url", "http://example.com:7860/"], "loopback"),
        (["load", "--url", "http://10.1.2.3:7860/"], "only targets loopback addresses"),
        (["load", "--url", "ftp://127.0.0.1/"], "not an http URL"),
        (["load", "--clients", "500"], "--clients must be between"),
        (["load", "--requests", "0"], "--requests must be between"),
        (["load", "--time-limit", "99999"], "--time-limit must be between"),
    ):
        assert main(argv) == 2
        assert message in capfd.readouterr().err


@pytest.mark.slow
def test_the_load_tool_prints_throughput_latency_errors_and_server_memory(app, capsys):
    from tryon.cli import main

    assert main(["load", "--url", app.url, "--clients", "2", "--requests", "4", "--warm-up", "1"]) == 0
    out = capsys.readouterr().out
    assert "requests: 4 ok, 0 failed" in out and "requests/s" in out
    assert "latency: p50" in out and "p95" in out and "max" in out
    assert "errors: none" in out
    assert "server RSS:" in out and "MB at start" in out and "in the warm-up" in out and "up to 4" in out
