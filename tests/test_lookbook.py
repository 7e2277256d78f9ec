"""Lookbooks without Ray: the plan, the journal that makes a rerun resume, the table, the contact sheet, and a
real run in this process (the app tab's executor) over the repository's example photos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import REPO, bad_photo
from lookbook_helpers import (
    GARMENT_FILES,
    LEGS_MESSAGE,
    PERSON_FILES,
    journal_pair_lines,
    make_inputs,
    no_executor,
    page_links,
    read_table,
)
from PIL import Image

from tryon.errors import TryOnError
from tryon.lookbook import plan as lookbook_plan
from tryon.lookbook.check import self_check
from tryon.lookbook.plan import (
    INDEX,
    JOURNAL,
    TABLE_PARQUET,
    Journal,
    make_plan,
    read_catalog,
    read_garments,
    read_pairs,
    read_people,
)
from tryon.lookbook.runner import LookbookRun, inline_executor

# --------------------------------------------------------------------------------------------------
# Plan, inputs, journal (no rendering)
# --------------------------------------------------------------------------------------------------


def test_grid_is_every_person_with_every_garment_person_major(tmp_path: Path) -> None:
    people_dir, garments_dir = make_inputs(tmp_path)
    plan = make_plan(read_people(people_dir), read_garments(garments_dir))
    assert [(p.person.id, p.garment.id) for p in plan.pairs] == [
        (person.split(".")[0], garment.split(".")[0]) for person in PERSON_FILES for garment in sorted(GARMENT_FILES)
    ]
    assert len({p.key for p in plan.pairs}) == 4
    assert len({p.output for p in plan.pairs}) == 4


def test_a_changed_photo_changes_the_pair_key_so_the_rerun_renders_it_again(tmp_path: Path) -> None:
    people_dir, garments_dir = make_inputs(tmp_path)
    before = {p.output: p.key for p in make_plan(read_people(people_dir), read_garments(garments_dir)).pairs}
    photo = people_dir / PERSON_FILES[0]
    Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photo)
    after = {p.output: p.key for p in make_plan(read_people(people_dir), read_garments(garments_dir)).pairs}
    changed = {output for output in before if before[output] != after[output]}
    assert changed == {p for p in before if f"/{photo.stem}/" in p}


def test_catalog_csv_gives_captions_categories_descriptions_and_unique_ids(tmp_path: Path) -> None:
    make_inputs(tmp_path)
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "file,caption,category,description\n"
        f"garments/{GARMENT_FILES[0]},Pink henley,upper,\n"
        f"garments/{GARMENT_FILES[0]},Pink henley in navy,,make it navy\n"
        ",Red shirt (words only),,a red long-sleeve shirt\n",
        encoding="utf-8",
    )
    garments = read_catalog(catalog)
    assert [g.label for g in garments] == ["Pink henley", "Pink henley in navy", "Red shirt (words only)"]
    assert [g.category for g in garments] == ["upper", "auto", "auto"]
    assert garments[2].path is None and garments[2].description == "a red long-sleeve shirt"
    assert len({g.id for g in garments}) == 3 and garments[1].id.startswith(garments[0].id)


def test_catalog_with_an_unknown_category_is_refused_with_the_row(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("file,category\nshirt.jpg,shoes\n", encoding="utf-8")
    with pytest.raises(TryOnError, match=r"row 2.*'shoes'.*upper, lower, dress"):
        read_catalog(catalog)


def test_missing_folders_and_empty_inputs_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TryOnError, match="does not exist"):
        read_people(tmp_path / "nobody")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TryOnError, match="holds no photos"):
        read_garments(tmp_path / "empty")
    with pytest.raises(TryOnError, match="Nothing to render"):
        make_plan([], [])


def test_pairs_csv_lists_pairs_with_their_own_category(tmp_path: Path) -> None:
    make_inputs(tmp_path)
    pairs_csv = tmp_path / "cases.csv"
    pairs_csv.write_text(f"id,person,garment,category\nc1,people/{PERSON_FILES[0]},garments/{GARMENT_FILES[0]},upper\n"
                         f"c2,people/{PERSON_FILES[1]},garments/{GARMENT_FILES[0]},lower\n", encoding="utf-8")
    plan = make_plan(pairs=read_pairs(pairs_csv))
    assert not plan.grid and len(plan.pairs) == 2
    assert [p.garment.category for p in plan.pairs] == ["upper", "lower"]
    assert plan.pairs[0].garment.id != plan.pairs[1].garment.id  # same photo, asked different things


def test_journal_drops_a_torn_last_line_and_the_next_record_starts_a_fresh_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append({"kind": "pair", "key": "a", "status": "ok"})
    with open(tmp_path / JOURNAL, "a") as fh:
        fh.write('{"kind": "pair", "key": "b", "sta')  # the process was killed mid-write
    reopened = Journal(tmp_path)
    assert set(reopened.pairs) == {"a"}
    reopened.append({"kind": "pair", "key": "c", "status": "refused"})
    assert set(Journal(tmp_path).pairs) == {"a", "c"}


def test_a_pair_journalled_as_ctrl_c_lands_is_in_the_table_the_run_leaves(tmp_path: Path) -> None:
    # Ctrl-C during the journal's fsync: the pair's line is on disk, the run never saw the append return.
    # The table and the page the run leaves must say what the journal (the rerun's truth) says.
    from tryon.lookbook.runner import _now

    people_dir, garments_dir = make_inputs(tmp_path)
    plan = make_plan(read_people(people_dir), read_garments(garments_dir))
    out = tmp_path / "out"
    job = LookbookRun(plan, out, no_executor)
    assert len(job.todo()) == 4
    started = _now()
    first, second = plan.pairs[0], plan.pairs[1]
    Journal(out).append({"kind": "pair", "key": first.key, "person": first.person.id, "garment": first.garment.id,
                         "status": "refused", "message": "No person was found in the photo.", "finished_at": _now()})
    # A line from an earlier run (before this one started) is not this run's to report.
    Journal(out).append({"kind": "pair", "key": second.key, "person": second.person.id,
                         "garment": second.garment.id, "status": "refused", "message": "old",
                         "finished_at": "2000-01-01T00:00:00+00:00"})
    job.finish(started=started, seconds=0.0, interrupted=True)
    statuses = {(r["person"], r["garment"]): r["status"] for r in read_table(out)}
    assert statuses[(first.person.id, first.garment.id)] == "refused"
    assert statuses[(second.person.id, second.garment.id)] == "pending"
    assert sum(status == "pending" for status in statuses.values()) == 3


def test_self_check_reads_the_pipelines_result_check() -> None:
    from types import SimpleNamespace as Result

    from tryon.stages.check import ResultCheck

    failed = ResultCheck(False, ("The old sleeves may still show on the arms.", "The colour may not match."), {})
    assert self_check(Result(check=ResultCheck(True, (), {}))) == ("pass", "")
    verdict, reasons = self_check(Result(check=failed))
    assert verdict == "fail" and reasons == "The old sleeves may still show on the arms.; The colour may not match."
    assert self_check(Result(check=None)) == ("unchecked", "")


# --------------------------------------------------------------------------------------------------
# A real run in this process
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LookbookRun, list]]:
    """2 good people + 1 photo with nobody in it, × a top, the same top catalogued as "lower", and a
    description-only garment: 9 pairs, of which 3 refused for the photo and 2 for the category."""
    root = tmp_path_factory.mktemp("lookbook-inline")
    people_dir, _ = make_inputs(root)
    bad_photo(people_dir, "no person", people_dir / PERSON_FILES[0])
    catalog = root / "catalog.csv"
    catalog.write_text(
        "file,caption,category,description\n"
        f"garments/{GARMENT_FILES[0]},Pink henley,,\n"
        f"garments/{GARMENT_FILES[0]},Pink henley as trousers,lower,\n"
        ",Yellow tee (words only),,一件黄色的短袖T恤\n",
        encoding="utf-8",
    )
    plan = make_plan(read_people(people_dir), read_catalog(catalog))
    out = root / "out"
    job = LookbookRun(plan, out, inline_executor)
    progress = [step for step in job.run() if step.record is not None]
    yield out, job, progress


@pytest.mark.slow
def test_inline_run_writes_results_grids_page_and_tables(inline_run) -> None:
    out, job, progress = inline_run
    assert len(progress) == len(job.plan.pairs) == 9
    rows = read_table(out)
    assert [r["status"] for r in rows].count("ok") == 4
    for row in rows:
        if row["status"] == "ok":
            result = np.asarray(Image.open(out / row["result"]))
            assert result.ndim == 3 and result.dtype == np.uint8
            assert (out / row["thumbnail"]).is_file()
            assert float(row["time_total_ms"]) > 0 and row["verdict"]
    assert pq.read_table(out / TABLE_PARQUET).num_rows == 9
    links = page_links(out / INDEX)
    assert {r["result"] for r in rows if r["status"] == "ok"} <= links.links
    for person in job.plan.people:
        assert f"grids/{person.id}.jpg" in links.links and (out / "grids" / f"{person.id}.jpg").is_file()
    assert json.loads((out / "run.json").read_text())["counts"] == {"ok": 4, "refused": 5, "failed": 0,
                                                                    "pending": 0}


@pytest.mark.slow
def test_refusals_are_in_the_table_and_on_the_page_with_the_pipelines_message(inline_run) -> None:
    out, _, _ = inline_run
    rows = read_table(out)
    nobody = [r for r in rows if r["person"] == "no-person"]
    assert len(nobody) == 3 and {r["status"] for r in nobody} == {"refused"}
    assert all("person" in r["message"].lower() for r in nobody)
    as_trousers = [r for r in rows if r["garment_label"] == "Pink henley as trousers" and r["person"] != "no-person"]
    assert len(as_trousers) == 2 and all(LEGS_MESSAGE in r["message"] for r in as_trousers)
    page = (out / INDEX).read_text(encoding="utf-8")
    assert LEGS_MESSAGE in page and nobody[0]["message"].split(":")[0] in page


@pytest.mark.slow
def test_description_only_garment_is_synthesized_and_self_checked(inline_run) -> None:
    out, _, _ = inline_run
    words = [r for r in read_table(out) if r["garment_label"] == "Yellow tee (words only)" and r["status"] == "ok"]
    assert len(words) == 2
    assert all(r["verdict"] in ("pass", "fail") for r in words)
    assert all(r["verdict"] == "pass" or r["verdict_reasons"] for r in words)  # a failed check says why


@pytest.mark.slow
def test_rerun_does_no_work_and_a_damaged_result_is_rendered_again(inline_run) -> None:
    out, job, _ = inline_run
    before = (out / JOURNAL).read_text()
    pair_lines = len(journal_pair_lines(out))
    rerun = LookbookRun(job.plan, out, no_executor)
    assert rerun.todo() == [] and list(rerun.run()) == []
    assert (out / JOURNAL).read_text() == before

    damaged = next(r for r in read_table(out) if r["status"] == "ok")
    (out / damaged["result"]).write_bytes(b"not a png any more")
    again = LookbookRun(job.plan, out, inline_executor)
    assert [p.key for p in again.todo()] == [damaged["pair_key"]]
    assert [p.record["status"] for p in again.run() if p.record] == ["ok"]
    assert Image.open(out / damaged["result"]).size[0] > 0
    assert len(journal_pair_lines(out)) == pair_lines + 1


@pytest.mark.slow
def test_category_filter_drops_garments_of_other_categories(tmp_path: Path) -> None:
    people_dir, garments_dir = make_inputs(tmp_path, people=PERSON_FILES[:1])
    plan = make_plan(read_people(people_dir), read_garments(garments_dir), categories=("lower", "dress"))
    job = LookbookRun(plan, tmp_path / "out", inline_executor)
    assert [step.record for step in job.run() if step.record] == []  # both tops: analysed, then dropped
    assert job.plan.pairs == () and set(job.excluded.values()) == {"upper"}
    assert "Not in --categories lower dress" in (tmp_path / "out" / INDEX).read_text()
    rerun = LookbookRun(plan, tmp_path / "out", no_executor)
    assert rerun.todo() == []  # the categories are remembered: no analysis again


def test_lookbook_package_imports_without_ray() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['ray'] = None\n"
            "import tryon.lookbook.runner, tryon.lookbook.command, tryon.lookbook.report\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert lookbook_plan.RENDERERS == ("warp", "diffusion")


@pytest.mark.slow
def test_each_persons_grid_is_drawn_once_when_their_pairs_are_in(tmp_path: Path, monkeypatch) -> None:
    # The driver draws a person's grid when their last pair arrives; the final report does not draw
    # the complete ones again (on a machine with as many workers as cores the driver's time is theirs).
    from tryon.lookbook import report

    people_dir, garments_dir = make_inputs(tmp_path, garments=GARMENT_FILES[:1])
    drawn: list[str] = []
    draw = report.write_grid

    def counting(out_dir, person, *args, **kwargs):
        drawn.append(person.id)
        return draw(out_dir, person, *args, **kwargs)

    monkeypatch.setattr(report, "write_grid", counting)
    plan = make_plan(read_people(people_dir), read_garments(garments_dir))
    job = LookbookRun(plan, tmp_path / "out", inline_executor)
    list(job.run())
    assert sorted(drawn) == sorted(p.id for p in plan.people)
    for person in plan.people:
        assert (tmp_path / "out" / report.grid_path(person)).is_file()


def test_pairs_reach_the_workers_in_plan_order_whatever_order_they_became_ready_in() -> None:
    # A garment's pairs become ready together (garment-major); workers take them person-major, so one
    # worker renders a person's pairs one after another and reuses the person's preparation.
    from tryon.lookbook.work import PairJob, PairQueue

    plan = [(person, garment) for person in "AB" for garment in "xyz"]  # person-major
    ready = sorted(range(len(plan)), key=lambda n: (plan[n][1], plan[n][0]))  # garment-major
    queue = PairQueue()
    for n in ready:
        queue.push(PairJob(f"k{n}", "".join(plan[n]), plan[n][0], plan[n][1], order=n))
    queue.push(PairJob("again", "Ax", "A", "x", order=0))  # a tie keeps its arrival order
    taken = [queue.pop().name for _ in range(len(queue))]
    assert taken == ["Ax", "Ax", "Ay", "Az", "Bx", "By", "Bz"]
    assert len(queue) == 0


def test_a_batch_is_the_next_pairs_of_one_person() -> None:
    from tryon.lookbook.work import PairJob, PairQueue

    queue = PairQueue()
    for n, (person, garment) in enumerate((p, g) for p in "AB" for g in "xyz"):
        queue.push(PairJob(f"k{n}", person + garment, person, garment, order=n))
    assert [job.name for job in queue.pop_batch(2)] == ["Ax", "Ay"]
    assert [job.name for job in queue.pop_batch(5)] == ["Az"]  # ends where the person's pairs do
    assert [job.name for job in queue.pop_batch(1)] == ["Bx"]
    assert [job.name for job in queue.pop_batch(9)] == ["By", "Bz"] and len(queue) == 0


def test_batches_shrink_as_the_work_runs_out() -> None:
    pytest.importorskip("ray")
    from tryon.lookbook.ray_runner import MAX_BATCH, batch_size

    slots = 4  # two workers, two tasks each
    assert batch_size(64, slots) == 16
    assert batch_size(8, slots) == 2 and batch_size(3, slots) == 1 and batch_size(0, slots) == 1
    assert batch_size(10_000, slots) == MAX_BATCH
    # An 8 x 8 grid on two workers: a person's row in one batch while much is left, single pairs at the end.
    waiting, sizes = 64, []
    while waiting:
        sizes.append(min(8, batch_size(waiting, slots)))
        waiting -= sizes[-1]
    assert sizes[0] == 8 and sizes[-1] == 1 and sum(sizes) == 64
