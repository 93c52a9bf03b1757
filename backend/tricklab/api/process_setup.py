"""Start-up of a long-lived API server process: pay first-call costs and settle the heap before serving."""

from __future__ import annotations

import gc

import numpy as np
import statsmodels.api as sm
from scipy import stats


def warm_numeric_libraries() -> None:
    """Run one tiny least-squares fit and t quantile, as the analysis and curve bands do."""
    # The first OLS fit (BLAS/LAPACK and statsmodels set-up) and the first t quantile cost
    # ~60 ms each; without this the first page load after a start pays them.
    design = np.column_stack([np.ones(4), np.array([-1.0, 1.0, -1.0, 1.0])])
    sm.OLS(np.array([0.1, 0.3, 0.2, 0.4]), design).fit()
    stats.t.ppf(0.975, np.array([1.0, 2.0]))


def settle_heap() -> None:
    """Move every object alive after start-up into the collector's permanent generation."""
    # A full collection walks every tracked object: ~200k after imports (SQLAlchemy, pydantic,
    # numpy, scipy, statsmodels), ~120 ms each on a 2-core machine, which showed up as the p95
    # of the experiment-page requests (issue 7). Frozen objects are skipped; what requests
    # allocate later is still collected.
    gc.collect()
    gc.freeze()


def prepare_server_process() -> None:
    """Both of the above; for the ``tricklab server`` process only, after the app is built."""
    warm_numeric_libraries()
    settle_heap()
