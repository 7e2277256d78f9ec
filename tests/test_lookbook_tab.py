"""The app's Lookbook tab: a real Gradio server through gradio_client, and a product manager's clicks in a
real Chromium (pick people and garments, run, watch the grid, download the zip)."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from lookbook_helpers import GARMENTS, PEOPLE

from tryon.config import Settings
from tryon.ui.lookbook_tab import MAX_PEOPLE

pytestmark = pytest.mark.slow  # a Gradio server starts for the module
TIMEOUT_MS = 120_000
GRID_FILLED = """(n) => {
    const grid = document.querySelector('#lookbook-grid');
    return grid && grid.querySelectorAll('img').length >= n && document.querySelector('#lookbook-zip a');
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tryon.ui.app import build_demo, launch_kwargs

    # The VITON-HD photos these tests pick are research-licensed: offered only with TRYON_EXAMPLES=all.
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), examples="all")
    demo = build_demo(settings)
    demo.launch(**(launch_kwargs(settings) | {"server_port": None, "prevent_thread_lock": True, "quiet": True}))
    try:
        yield demo.local_url
    finally:
        demo.close()


def _lookbook(client: Client, people: list[str], people_files: list[Path], garments: list[str],
              garment_files: list[Path]) -> tuple[Any, ...]:
    return client.predict(people, [handle_file(str(p)) for p in people_files], garments,
                          [handle_file(str(g)) for g in garment_files], "warp", api_name="/lookbook")


def test_lookbook_endpoint_renders_catalog_picks_and_uploads_and_serves_a_zip(server: str) -> None:
    client = Client(server, verbose=False)
    status, grid, table, archive = _lookbook(
        client, [str(PEOPLE / "vitonhd_00034_00.jpg")], [PEOPLE / "vitonhd_05997_00.jpg"],
        [str(GARMENTS / "vitonhd_00151_00.jpg")], [GARMENTS / "vitonhd_09176_00.jpg"],
    )
    assert "4 of 4 pairs" in status and "4 rendered" in status
    assert len(grid["value"]) == 4 and grid["columns"] == 2
    assert [row[2] for row in table["data"]] == ["ok"] * 4
    assert "striped long-sleeve top" in table["data"][0][1]  # the catalog caption names the garment
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        rows = list(csv.DictReader(io.TextIOWrapper(bundle.open("lookbook.csv"), encoding="utf-8")))
    assert {"index.html", "lookbook.csv", "lookbook.parquet"} <= names
    assert sum(n.startswith("results/") for n in names) == 4 and sum(n.startswith("grids/") for n in names) == 2
    assert {r["result"] for r in rows} <= names


def test_more_people_than_the_tab_allows_is_refused_with_a_message(server: str) -> None:
    client = Client(server, verbose=False)
    people = sorted(PEOPLE.glob("*.jpg"))[: MAX_PEOPLE + 1]
    with pytest.raises(Exception, match=rf"up to {MAX_PEOPLE} people"):
        _lookbook(client, [str(p) for p in people], [], [str(GARMENTS / "vitonhd_00151_00.jpg")], [])


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed (make test installs it)")
def test_product_manager_picks_two_by_two_runs_and_sees_the_grid_fill_in(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(server)
            page.get_by_role("tab", name="Lookbook").click()
            for gallery, boxes in (("people", "#lookbook-people"), ("garments", "#lookbook-garments")):
                thumbs = page.locator(f"#lookbook-{gallery}-gallery button.thumbnail-item")
                for n, index in enumerate((0, 2)):
                    thumbs.nth(index).click()  # a click on a thumbnail ticks it
                    page.locator(f"{boxes} input:checked").nth(n).wait_for(state="attached")
                assert page.locator(f"{boxes} input:checked").count() == 2
            page.get_by_role("button", name="Run lookbook").click()
            page.wait_for_function(GRID_FILLED, arg=4, timeout=TIMEOUT_MS)
            assert "4 of 4 pairs" in page.locator("#lookbook-status").inner_text()
            page.screenshot(path=str(tmp_path / "lookbook-tab.png"), full_page=True)
        finally:
            browser.close()
