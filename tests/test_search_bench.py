"""The search bench (python -m tryon search-bench): its query file, its metrics, and a run."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO

from tryon.config import get_settings
from tryon.measure import search_bench as bench

QUERIES = REPO / "assets" / "search_bench" / "queries.csv"


def test_query_file_has_text_in_two_languages_photos_and_answerable_expectations() -> None:
    queries = bench.read_queries(QUERIES)
    kinds = Counter(q.kind for q in queries)
    assert kinds["text"] >= 30 and kinds["photo"] >= 10
    assert sum(q.language == "zh" for q in queries if q.kind == "text") >= 10
    assert any(not q.expected for q in queries)  # queries the catalog cannot answer
    shipped = {p.name for p in (REPO / "assets" / "garments").iterdir()}
    for query in queries:
        assert set(query.expected) <= shipped, query.id
        if query.kind == "photo" and not query.query.startswith(bench.EVAL_PREFIX):
            assert (REPO / query.query).is_file(), query.query


def test_recall_and_reciprocal_rank_on_a_constructed_ranking() -> None:
    ranked = ["a", "b", "c", "d"]
    assert bench.recall_at_k(ranked, ["c", "d"], k=3) == 0.5
    assert bench.recall_at_k(ranked, ["a"], k=3) == 1.0
    assert bench.recall_at_k(ranked, [], k=3) == 0.0
    assert bench.reciprocal_rank(ranked, ["c", "d"]) == pytest.approx(1 / 3)
    assert bench.reciprocal_rank(ranked, ["z"]) == 0.0


def test_evaluate_groups_queries_and_counts_no_match_answers() -> None:
    queries = [
        bench.Query("t1", "text", "black dress", None, ("x",)),
        bench.Query("t2", "text", "黑色连衣裙", None, ("x", "y")),
        bench.Query("p1", "photo", "p.jpg", None, ("y",)),
        bench.Query("n1", "text", "boots", None, ()),
        bench.Query("n2", "text", "cap", None, ()),
        bench.Query("s1", "photo", "eval:missing.jpg", None, ("x",)),
    ]
    answers = {
        "t1": bench.Answer(("x", "y", "z"), True),
        "t2": bench.Answer(("z", "y", "q", "x"), False),
        "p1": bench.Answer(("a", "b", "c", "y"), True),
        "n1": bench.Answer(("x",), False),
        "n2": bench.Answer(("x",), True),
    }
    figures = bench.evaluate(queries, lambda q: answers.get(q.id))
    assert figures["text"].recall == [1.0, 0.5] and figures["text"].rr == [1.0, 0.5]
    assert figures["text en"].rr == [1.0] and figures["text zh"].rr == [0.5]
    assert figures["text"].false_no_match == 1
    assert figures["photo"].recall == [0.0] and figures["photo"].rr == [0.25]  # s1 skipped
    assert figures["no match"] == (1, 2)


@pytest.mark.slow
def test_bench_command_prints_recall_and_mrr(tmp_path: Path, capsys) -> None:
    from tryon.cli import main

    path = tmp_path / "queries.csv"
    with open(QUERIES, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["id"] in ("t01", "t27", "n01", "p01")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["search-bench", "--queries", str(path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "recall@3 1.000" in out and "MRR" in out and "for 1/1 queries" in out


def test_shipped_catalog_spans_the_categories_with_licences() -> None:
    from tryon.pipeline import catalog_records, example_people

    settings = get_settings()
    every = catalog_records(dataclasses.replace(settings, examples="all"))
    safe = catalog_records(dataclasses.replace(settings, examples="commercial"))
    assert len(every) >= 40
    per_category = Counter(r.category for r in safe)
    assert min(per_category[c] for c in ("upper", "lower", "dress")) >= 10, per_category
    assert all(r.licence for r in every) and {r.licence for r in safe} == {"MIT", "Apache-2.0"}
    assert {r.licence for r in every} - {r.licence for r in safe} == {"CC-BY-NC-4.0"}
    people = example_people(dataclasses.replace(settings, examples="commercial"))
    assert people and all(p.commercial and not p.path.name.startswith("vitonhd") for p in people)
    assert len(example_people(dataclasses.replace(settings, examples="all"))) > len(people)
