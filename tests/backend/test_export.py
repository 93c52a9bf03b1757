"""Exports: CSV rows and columns, Markdown and LaTeX tables, escaping."""

from __future__ import annotations

import csv
import io

from tricklab.analysis.report import analyze
from tricklab.analysis.schemas import DesignInfo
from tricklab.analysis.table import Cell, RunRecord, RunTable
from tricklab.export import tex_escape, to_csv, to_latex, to_markdown


def table() -> RunTable:
    cells = [Cell("base", (), {}), Cell("warmup", ("warmup",), {}), Cell("radam+warmup", ("warmup", "radam"), {})]
    runs = []
    for i, c in enumerate(cells * 3):
        runs.append(
            RunRecord(i, c.key, c.tricks, {}, i // 3, "succeeded", {"acc": 0.5 + 0.1 * len(c.tricks) + 0.01 * i})
        )
    runs.append(RunRecord(99, "base", (), {}, 3, "diverged", {"acc": float("nan")}, error="loss is nan"))
    return RunTable(runs, cells, ["warmup", "radam"], {}, "maximize", "custom")


def design() -> DesignInfo:
    return DesignInfo(
        design="custom",
        resolution=None,
        resolution_label=None,
        factors=["warmup", "radam"],
        trick_factors=["warmup", "radam"],
        level_factors={},
        generators=[],
        defining_relation=[],
        aliases=[],
        reference="base",
        n_combinations=3,
        n_runs=9,
        excluded=[],
    )


def test_csv_has_one_row_per_run_with_every_metric() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(table()))))
    assert len(rows) == 10
    assert list(rows[0]) == [
        "run_id",
        "combo_key",
        "seed",
        "status",
        "warmup",
        "radam",
        "duration_seconds",
        "error",
        "acc",
    ]
    last = rows[-1]
    assert (last["status"], last["acc"], last["error"], last["warmup"]) == ("diverged", "nan", "loss is nan", "0")
    assert float(rows[2]["acc"]) == 0.5 + 0.2 + 0.02


def test_markdown_and_latex_tables() -> None:
    a = analyze(experiment_id=1, table=table(), metric="acc", design=design())
    md = to_markdown(a, "my exp")
    assert "| radam+warmup |" in md and "| warmup |" in md and "3/4" in md  # base: 3 of 4 runs have a value
    tex = to_latex(a, "my_exp")
    assert tex.count(r"\begin{tabular}") == 2 and r"my\_exp" in tex and r"$\pm$" in tex
    assert tex_escape("a_b & 50%") == r"a\_b \& 50\%"
