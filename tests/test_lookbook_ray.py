"""Lookbooks on real Ray clusters on this machine: local (num_cpus=2) started by the run, a running cluster
given by address, a worker process killed mid-pair, Ctrl-C on the command, GPU actors for diffusion.

Every test leaves no Ray process behind (checked after each test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import REPO
from lookbook_helpers import (
    GARMENTS,
    LEGS_MESSAGE,
    PERSON_FILES,
    journal_pair_lines,
    make_inputs,
    no_executor,
    page_links,
    read_table,
)

from tryon.errors import TryOnError
from tryon.lookbook.plan import INDEX, JOURNAL, Journal, file_sha256, make_plan, read_catalog, read_people
from tryon.lookbook.ray_runner import TASK_NAME_SEPARATOR, TASK_PREFIX, ray_executor
from tryon.lookbook.runner import LookbookRun

pytestmark = pytest.mark.slow

RAY_DAEMONS = ("raylet", "gcs_server")
LEFTOVER_WAIT_S = 30
BUSY_WAIT_S = 30
CLI_TIMEOUT_S = 300


def _ray_daemons() -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.info["name"] in RAY_DAEMONS:
            pids.add(proc.info["pid"])
    return pids


@pytest.fixture(autouse=True)
def no_leftover_ray_processes() -> Iterator[None]:
    """Every Ray daemon a test started (in this process or a child command) is gone after it."""
    before = _ray_daemons()
    yield
    deadline = time.monotonic() + LEFTOVER_WAIT_S
    while (left := _ray_daemons() - before) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray processes left running: {left}"


def _as_from_a_terminal() -> None:
    # A job started in the background by a non-interactive shell (CI runners, nohup) inherits SIGINT ignored,
    # and Python then never turns Ctrl-C into KeyboardInterrupt: give the command a terminal's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args: str | Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tryon", "lookbook", *map(str, args), "--no-progress"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal, **kwargs)


def _catalog(root: Path) -> Path:
    """Two tops, and one of them catalogued as trousers (the upper-body people cannot wear it)."""
    catalog = root / "catalog.csv"
    catalog.write_text("file,caption,category\n"
                       f"{GARMENTS}/vitonhd_09176_00.jpg,Pink henley,\n"
                       f"{GARMENTS}/vitonhd_00151_00.jpg,Striped top,upper\n"
                       f"{GARMENTS}/vitonhd_09176_00.jpg,Pink henley as trousers,lower\n", encoding="utf-8")
    return catalog


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LookbookRun]:
    """2 people × 3 catalog garments on a local Ray with 2 CPUs: 4 pairs rendered, 2 refused."""
    root = tmp_path_factory.mktemp("lookbook-ray")
    people_dir, _ = make_inputs(root, garments=())
    plan = make_plan(read_people(people_dir), read_catalog(_catalog(root)))
    job = LookbookRun(plan, root / "out", lambda: ray_executor(workers=2))
    list(job.run())
    return root / "out", job


def test_local_ray_cluster_renders_four_pairs_and_the_page_lists_them(ray_run) -> None:
    out, job = ray_run
    assert job.executor_info["engine"] == "ray" and job.executor_info["cpus"] == 2
    rendered = [r for r in read_table(out) if r["status"] == "ok"]
    assert len(rendered) == 4
    links = page_links(out / INDEX)
    for row in rendered:
        assert row["result"] in links.links and row["thumbnail"] in links.images
        assert (out / row["result"]).stat().st_size > 0
    assert len({r["worker"] for r in rendered}) == 2  # both workers took pairs
    assert all(r["cached_body"] == "True" for r in rendered)  # each person analysed once, before the pairs
    summary = json.loads((out / "run.json").read_text())
    assert summary["photos_analysed_this_run"] == 5  # 2 people + 3 garment entries, not one per pair


def test_a_pair_the_pipeline_refuses_appears_in_the_table_with_its_message(ray_run) -> None:
    out, _ = ray_run
    refused = [r for r in read_table(out) if r["status"] == "refused"]
    assert {r["garment_label"] for r in refused} == {"Pink henley as trousers"} and len(refused) == 2
    assert all(LEGS_MESSAGE in r["message"] and not r["result"] for r in refused)


def test_rerun_does_no_work(ray_run) -> None:
    out, job = ray_run
    journal, stamps = (out / JOURNAL).read_bytes(), {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*")}
    start = time.perf_counter()
    rerun = LookbookRun(job.plan, out, no_executor)
    assert rerun.todo() == []
    list(rerun.run())
    assert time.perf_counter() - start < 5  # no Ray started
    assert (out / JOURNAL).read_bytes() == journal
    assert {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*")} == stamps


def test_a_persons_waiting_pairs_go_to_one_worker_as_a_batch(tmp_path: Path) -> None:
    # Six pairs of one person become ready together on one worker (two tasks in flight): they go out as
    # batches of that person's pairs, an equal share of what waits over the tasks in flight (3 of 6, then 2
    # of 3, then the last one), and each pair comes back once, rendered.
    from tryon.lookbook.plan import read_garments
    from tryon.lookbook.runner import pair_job, photo_job

    tops = ("vitonhd_09176_00.jpg", "vitonhd_00151_00.jpg", "vitonhd_00055_00.jpg", "vitonhd_00126_00.jpg",
            "vitonhd_04469_00.jpg", "vitonhd_09263_00.jpg")
    people_dir, garments_dir = make_inputs(tmp_path, people=PERSON_FILES[:1], garments=tops)
    plan = make_plan(read_people(people_dir), read_garments(garments_dir))
    photos = [*plan.people, *plan.garments]
    with ray_executor(workers=1) as executor:
        executor.submit_photos([photo_job(photo) for photo in photos])
        analysed: list = []
        while len(analysed) < len(photos):
            analysed += executor.next_outcomes(timeout=5.0)
        assert {o.status for o in analysed} == {"ok"}
        executor.submit_pairs([pair_job(pair, n) for n, pair in enumerate(plan.pairs)])
        rendered: list = []
        while executor.busy():
            rendered += executor.next_outcomes(timeout=5.0)
    assert sorted(o.key for o in rendered) == sorted(p.key for p in plan.pairs)
    assert {o.status for o in rendered} == {"ok"}
    assert sorted(o.batch for o in rendered) == [1, 2, 2, 3, 3, 3]
    assert len({o.worker for o in rendered}) == 1


def test_analyses_go_out_a_few_at_a_time_behind_the_ready_pairs(tmp_path: Path) -> None:
    # Seven photos on one worker: only IN_FLIGHT_PER_WORKER analyses are submitted at once, and a pair
    # submitted as soon as its two photos are in is rendered next, before the photos still waiting (the
    # first results come early, not after every analysis).
    from tryon.lookbook.plan import read_garments
    from tryon.lookbook.ray_runner import IN_FLIGHT_PER_WORKER
    from tryon.lookbook.runner import pair_job, photo_job

    tops = ("vitonhd_09176_00.jpg", "vitonhd_00151_00.jpg", "vitonhd_00055_00.jpg", "vitonhd_00126_00.jpg",
            "vitonhd_04469_00.jpg", "vitonhd_09263_00.jpg")
    people_dir, garments_dir = make_inputs(tmp_path, people=PERSON_FILES[:1], garments=tops)
    plan = make_plan(read_people(people_dir), read_garments(garments_dir))
    first = plan.pairs[0]
    with ray_executor(workers=1) as executor:
        executor.submit_photos([photo_job(photo) for photo in (*plan.people, *plan.garments)])
        in_flight = executor.in_flight()
        arrivals: list = []
        submitted = False
        while executor.busy():
            arrivals += executor.next_outcomes(timeout=5.0)
            done = {o.key for o in arrivals if o.status == "ok"}
            if not submitted and {first.person.key, first.garment.key} <= done:
                executor.submit_pairs([pair_job(first, 0)])
                submitted_after = len(arrivals)
                submitted = True
    assert in_flight == {"photo": IN_FLIGHT_PER_WORKER, "pair": 0}
    kinds = ["pair" if o.key == first.key else "photo" for o in arrivals]
    assert kinds.count("photo") == 7 and kinds.count("pair") == 1
    # Only the analyses already in flight when it was submitted come first (Ray would otherwise go on with
    # the queued analyses on the worker it leased for them, and the pair would wait for all seven).
    assert kinds.index("pair") - submitted_after <= IN_FLIGHT_PER_WORKER


def _kill_a_busy_pair_worker() -> tuple[int, str]:
    """SIGKILL a Ray worker process while it renders pairs (its title names them): ``(pid, pair names)``."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or [])
            if title.startswith(f"ray::{TASK_PREFIX}"):
                os.kill(proc.info["pid"], signal.SIGKILL)
                return proc.info["pid"], title.removeprefix(f"ray::{TASK_PREFIX}").strip()
        time.sleep(0.02)
    raise AssertionError("no Ray worker was rendering a pair")


def test_a_worker_killed_mid_pair_is_retried_and_no_pair_is_lost(tmp_path: Path) -> None:
    people_dir, garments_dir = make_inputs(tmp_path)
    from tryon.lookbook.plan import read_garments

    plan = make_plan(read_people(people_dir), read_garments(garments_dir))
    job = LookbookRun(plan, tmp_path / "out", lambda: ray_executor(workers=2))
    killed: tuple[int, str] | None = None
    for step in job.run():
        if killed is None and step.record is not None:  # a pair is done: the others are being rendered
            killed = _kill_a_busy_pair_worker()
    assert killed is not None
    rows = read_table(tmp_path / "out")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    victims = [r for r in rows if f"{r['person']} × {r['garment']}" in killed[1].split(TASK_NAME_SEPARATOR)]
    assert victims and all(not v["worker"].endswith(f":{killed[0]}") for v in victims)  # rendered again elsewhere
    assert len(journal_pair_lines(tmp_path / "out")) == 4  # each pair recorded once


def test_ctrl_c_leaves_a_consistent_folder_that_a_rerun_completes(tmp_path: Path) -> None:
    people_dir, garments_dir = make_inputs(tmp_path)
    out = tmp_path / "out"
    # One worker: pairs finish one at a time, so pairs are still to do when Ctrl-C comes after the first.
    args = ("--people", people_dir, "--garments", garments_dir, "--out", out, "--workers", "1")
    proc = _cli(*args)
    try:
        deadline = time.monotonic() + CLI_TIMEOUT_S
        while not (out / JOURNAL).is_file() or not Journal(out).pairs:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if proc.poll() is None:  # the test failed above: stop the command (it stops its Ray)
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 130, stderr
    assert "run the same command again" in stderr and "Traceback" not in stderr

    done = Journal(out).pairs
    assert 0 < len(done) < 4
    assert f"interrupted: {len(done)} of 4 pairs done" in stderr
    for record in done.values():  # every recorded result is complete and intact
        assert file_sha256(out / record["result"]) == record["result_sha256"]
    assert not list(out.rglob("*.tmp"))
    rows = read_table(out)
    assert len(rows) == 4 and sum(r["status"] == "pending" for r in rows) == 4 - len(done)
    assert "not rendered yet" in (out / INDEX).read_text()

    rerun = _cli(*args)
    stdout, stderr = rerun.communicate(timeout=CLI_TIMEOUT_S)
    assert rerun.returncode == 0, stderr
    assert f"{len(done)} already done, {4 - len(done)} to render" in stdout
    assert {r["status"] for r in read_table(out)} == {"ok"}
    assert len(journal_pair_lines(out)) == 4


def test_cli_renders_on_a_running_cluster_and_leaves_it_running(tmp_path: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        people_dir, garments_dir = make_inputs(tmp_path, people=PERSON_FILES[:1])
        proc = _cli("--people", people_dir, "--garments", garments_dir, "--out", tmp_path / "out", "--address",
                    cluster.address)
        stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
        assert proc.returncode == 0, stderr
        assert "2 rendered" in stdout
        summary = json.loads((tmp_path / "out" / "run.json").read_text())
        assert summary["executor"]["address"] == cluster.address and not summary["executor"]["started_here"]
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            assert ray.cluster_resources()["CPU"] == 2  # still up after the command ended
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()


def _busy_pair_workers() -> list[int]:
    return [p.info["pid"] for p in psutil.process_iter(["pid", "cmdline"])
            if " ".join(p.info["cmdline"] or []).startswith(f"ray::{TASK_PREFIX}")]


def test_ctrl_c_on_a_running_cluster_stops_the_pair_in_flight_and_leaves_the_cluster_up(tmp_path: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        people_dir, garments_dir = make_inputs(tmp_path)
        proc = _cli("--people", people_dir, "--garments", garments_dir, "--out", tmp_path / "out", "--address",
                    cluster.address, "--workers", "1")
        try:
            deadline = time.monotonic() + CLI_TIMEOUT_S
            while not (busy := _busy_pair_workers()):
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.communicate(timeout=CLI_TIMEOUT_S)
        assert proc.returncode == 130, stderr
        # A pair takes well under a second, so it may have finished by now: what shows that it was stopped is
        # that its worker process is gone (a worker that finished a pair would idle in Ray's pool).
        deadline = time.monotonic() + LEFTOVER_WAIT_S
        while (alive := [pid for pid in busy if psutil.pid_exists(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, "the worker that was rendering a pair outlived the interrupted command"
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            assert ray.cluster_resources()["CPU"] == 2
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()


TINY_STEPS = 2  # denoising steps of the tiny pipeline


def test_diffusion_pairs_run_in_gpu_actors_that_load_the_pipeline_once(tmp_path: Path, monkeypatch) -> None:
    from tiny_diffusion import SIZE, build_tiny_sd15

    weights = build_tiny_sd15(tmp_path / "weights")
    for name, value in (("TRYON_DEVICE", "cpu"), ("TRYON_DIFFUSION_RECIPE", "sd15"),
                        ("TRYON_DIFFUSION_MODEL", weights["model"]),
                        ("TRYON_DIFFUSION_IP_ADAPTER", weights["ip_adapter"]),
                        ("TRYON_DIFFUSION_STEPS", str(TINY_STEPS)), ("TRYON_DIFFUSION_SIDE", str(SIZE)),
                        ("HF_HUB_OFFLINE", "1")):
        monkeypatch.setenv(name, value)  # the Ray started by the run passes its environment to the workers
    people_dir, garments_dir = make_inputs(tmp_path, people=PERSON_FILES[:1])
    from tryon.lookbook.plan import read_garments

    plan = make_plan(read_people(people_dir), read_garments(garments_dir), renderer="diffusion")
    # This machine has no GPU: the local Ray is told it has one, so the real num_gpus=1 actor is scheduled
    # and runs the tiny pipeline on the CPU (TRYON_DEVICE=cpu).
    job = LookbookRun(plan, tmp_path / "out", lambda: ray_executor(renderer="diffusion", num_gpus=1))
    list(job.run())
    rows = read_table(tmp_path / "out")
    assert [r["status"] for r in rows] == ["ok", "ok"], [r["message"] for r in rows]
    # Rendered by the diffusion renderer, not the warp fallback (the self-check's findings may be notes too).
    assert {r["renderer"] for r in rows} == {"diffusion"}
    assert not any("Used the warp renderer" in r["notes"] for r in rows)
    actors = job.executor_info["actors"]
    assert len(actors) == 1 and actors[0]["pairs"] == 2 and actors[0]["load_seconds"] > 0
    assert {r["worker"] for r in rows} == {actors[0]["worker"]}


def test_diffusion_on_a_cluster_without_gpus_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TryOnError, match=r"no GPU.*--renderer warp"), ray_executor(renderer="diffusion", num_gpus=0):
        pass
