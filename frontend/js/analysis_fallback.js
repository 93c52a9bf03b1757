// A stand-in for GET /experiments/{id}/analysis while a server does not offer it yet:
// per-combination summaries and simple main effects computed from the runs'
// final_metrics, in the AnalysisOut shape (t-intervals instead of bootstrap CIs;
// no interactions). The server's analysis replaces it whenever it answers.
import { TERMINAL_STATUSES } from "/js/format.js";

// Two-sided 97.5% t quantiles for small df; normal beyond.
const T975 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086];
const tQuantile = (df) => (df < T975.length ? T975[df] : 1.96);

function meanStd(values) {
  const n = values.length;
  if (!n) return { n, mean: null, std: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : null;
  return { n, mean, std };
}

export function fallbackAnalysis(experiment, runs, metric) {
  const combos = experiment.combinations ?? [];
  const trickFactors = (experiment.factors ?? []).filter((f) => combos.some((c) => f in (c.tricks ?? {})));
  const levelFactors = {};
  for (const f of experiment.factors ?? []) {
    if (trickFactors.includes(f)) continue;
    levelFactors[f] = [...new Set(combos.map((c) => c.levels?.[f]).filter((v) => v !== undefined))];
  }
  const value = (run) => {
    const v = run.final_metrics?.[metric];
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  };
  const summary = combos.map((combo) => {
    const mine = runs.filter((r) => r.combo_key === combo.key);
    const counts = Object.fromEntries(["queued", "running", ...TERMINAL_STATUSES].map((s) => [s, mine.filter((r) => r.status === s).length]));
    const { n, mean, std } = meanStd(mine.map(value).filter((v) => v !== null));
    const half = std !== null ? (tQuantile(n - 1) * std) / Math.sqrt(n) : null;
    const finished = mine.filter((r) => TERMINAL_STATUSES.includes(r.status) && r.status !== "cancelled").length;
    return {
      key: combo.key, tricks: Object.keys(combo.tricks ?? {}), levels: combo.levels ?? {}, n, n_runs: mine.length, mean, std,
      ci_lo: half === null ? null : mean - half, ci_hi: half === null ? null : mean + half, counts,
      divergence_rate: finished ? counts.diverged / finished : null,
    };
  });
  const byKey = new Map(combos.map((c) => [c.key, c]));
  const effects = trickFactors.map((trick) => {
    const on = [];
    const off = [];
    for (const run of runs) {
      const v = value(run);
      if (v === null) continue;
      (trick in (byKey.get(run.combo_key)?.tricks ?? {}) ? on : off).push(v);
    }
    const a = meanStd(on);
    const b = meanStd(off);
    const estimate = a.mean !== null && b.mean !== null ? a.mean - b.mean : null;
    const se = a.std !== null && b.std !== null ? Math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n) : null;
    const half = se !== null ? tQuantile(Math.min(a.n, b.n) - 1) * se : null;
    const ciLo = half === null ? null : estimate - half;
    const ciHi = half === null ? null : estimate + half;
    const significant = ciLo !== null && (ciLo > 0 || ciHi < 0);
    const better = estimate !== null && (experiment.direction === "minimize" ? estimate < 0 : estimate > 0);
    return {
      term: trick, kind: "main", factors: [trick], estimate, std_error: se, ci_lo: ciLo, ci_hi: ciHi,
      p_value: null, estimable: estimate !== null, aliased_with: [], improves: estimate === null ? null : significant && better,
    };
  });
  return {
    experiment_id: experiment.id, metric, direction: experiment.direction ?? "maximize",
    design: {
      design: experiment.spec?.design ?? "full", resolution: null, resolution_label: null, factors: experiment.factors ?? [],
      trick_factors: trickFactors, level_factors: levelFactors, generators: [], defining_relation: [], aliases: [],
      reference: null, n_combinations: combos.length, n_runs: experiment.n_runs, excluded: [],
    },
    counts: experiment.counts ?? {}, n_runs: experiment.n_runs, n_with_metric: runs.filter((r) => value(r) !== null).length,
    complete: runs.every((r) => TERMINAL_STATUSES.includes(r.status)), summary, effects, interactions: [], model: null,
    one_at_a_time: null, speed: null,
    warnings: ["Computed in the browser from final metrics: the server's analysis endpoint did not answer."],
  };
}
