"""Exports of an experiment: CSV (one row per run), JSON, and Markdown/LaTeX tables for papers."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from tricklab.analysis.schemas import AnalysisOut, Effect
from tricklab.analysis.table import RunTable

FORMATS = {"csv": "text/csv", "json": "application/json", "md": "text/markdown", "tex": "text/x-tex"}


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def to_csv(table: RunTable) -> str:
    """One row per run: identity, status, tricks as 0/1 columns, levels, and every final metric seen."""
    metrics = table.metric_names()
    levels = list(table.level_factors)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["run_id", "combo_key", "seed", "status", *table.trick_factors, *levels, "duration_seconds", "error", *metrics]
    )
    for r in table.runs:
        w.writerow(
            [
                r.run_id,
                r.combo_key,
                r.seed,
                r.status,
                *(int(t in r.tricks) for t in table.trick_factors),
                *(r.levels.get(name, "") for name in levels),
                "" if r.duration_seconds is None else repr(r.duration_seconds),
                r.error or "",
                # repr keeps every digit; non-finite values stay visible as nan/inf
                *("" if m not in r.metrics else repr(float(r.metrics[m])) for m in metrics),
            ]
        )
    return buf.getvalue()


def to_json(*, experiment: dict[str, Any], table: RunTable, analysis: AnalysisOut) -> dict[str, Any]:
    """The experiment, its runs in the ``tricklab run --out`` shape, and the analysis of its primary metric."""
    return {
        "experiment": experiment,
        "runs": [
            {
                "id": r.run_id,
                "combo_key": r.combo_key,
                "tricks": list(r.tricks),
                "levels": r.levels,
                "seed": r.seed,
                "status": r.status,
                "metrics": {k: (v if math.isfinite(v) else None) for k, v in r.metrics.items()},
            }
            for r in table.runs
        ],
        "analysis": analysis.model_dump(mode="json"),
    }


def _mean_ci(mean: float | None, lo: float | None, hi: float | None) -> str:
    if mean is None:
        return "–"
    if lo is None or hi is None:
        return _num(mean)
    return f"{_num(mean)} ± {_num((hi - lo) / 2, 2)}"


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _rows(a: AnalysisOut) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    summary_head = ["combination", f"{a.metric} (mean ± 95% CI half-width)", "n", "failed", "diverged"]
    summary = [
        [
            s.key,
            _mean_ci(s.mean, s.ci_lo, s.ci_hi),
            f"{s.n}/{s.n_runs}",
            str(s.counts["failed"]),
            str(s.counts["diverged"]),
        ]
        for s in a.summary
    ]
    effect_head = ["effect", "estimate", "95% CI", "p"]

    def row(e: Effect) -> list[str]:
        if not e.estimable:
            return [e.term, "not estimable", "", ""]
        ci = "" if e.ci_lo is None or e.ci_hi is None else f"[{_num(e.ci_lo)}, {_num(e.ci_hi)}]"
        return [e.term, _num(e.estimate), ci, _p(e.p_value)]

    effects = [row(e) for e in [*a.effects, *a.interactions]]
    return summary_head, summary, effect_head, effects


def _oat(a: AnalysisOut) -> tuple[list[str], list[list[str]]] | None:
    if not a.one_at_a_time:
        return None
    sign = "−" if a.design.design == "leave_one_out" else "+"
    head = ["trick", "with", "without", "difference (95% CI)", "P(better)"]
    rows = [
        [
            f"{sign}{r.trick}",
            _num(r.with_mean),
            _num(r.without_mean),
            f"{_num(r.mean_diff)} [{_num(r.ci_lo)}, {_num(r.ci_hi)}]" if r.ci_lo is not None else _num(r.mean_diff),
            _num(r.p_improve, 2),
        ]
        for r in a.one_at_a_time
    ]
    return head, rows


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(a: AnalysisOut, title: str) -> str:
    """Per-combination summary, effects and (one-at-a-time designs) the paired table, as Markdown."""
    sh, s, eh, e = _rows(a)
    parts = [f"# {title}", "", f"Metric: {a.metric} ({a.direction}); design: {a.design.design}", ""]
    parts += ["## Per combination", "", _md_table(sh, s), "", "## Effects (OLS over the design)", "", _md_table(eh, e)]
    oat = _oat(a)
    if oat:
        parts += ["", "## One at a time (paired by seed)", "", _md_table(*oat)]
    return "\n".join(parts) + "\n"


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": "--",
    "–": "--",
    "<": r"$<$",
}


def tex_escape(s: str) -> str:
    """Escape LaTeX's special characters."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in s)


def _tex_table(caption: str, head: list[str], rows: list[list[str]]) -> str:
    cols = "l" + "r" * (len(head) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex_escape(caption)}}}", rf"\begin{{tabular}}{{{cols}}}"]
    lines += [r"\toprule", " & ".join(map(tex_escape, head)) + r" \\", r"\midrule"]
    lines += [" & ".join(map(tex_escape, r)) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def to_latex(a: AnalysisOut, title: str) -> str:
    """The same tables as booktabs LaTeX."""
    sh, s, eh, e = _rows(a)
    parts = [
        _tex_table(f"{title}: {a.metric} per combination (mean ± 95% bootstrap CI half-width)", sh, s),
        _tex_table(f"{title}: effects on {a.metric} (OLS, 95% CI)", eh, e),
    ]
    oat = _oat(a)
    if oat:
        parts.append(_tex_table(f"{title}: one at a time, paired by seed", *oat))
    return "\n\n".join(parts) + "\n"
