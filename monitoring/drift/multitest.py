"""Multiple-testing control across features (pure).

- Benjamini-Hochberg (1995) step-up: adjusted p_(i) = min_{j >= i} min(1, m * p_(j) / j) over the
  sorted p-values; controls the false discovery rate, and the family-wise error under the global
  null (Simes 1986). Same values as statsmodels' multipletests(method="fdr_bh").
- Bonferroni: adjusted p = min(1, m * p); controls the family-wise error rate.
Missing p-values (None: the test did not apply) are passed through and do not count in m.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.errors import InvalidInput

CORRECTIONS = ("bh", "bonferroni", "none")


def adjust_pvalues(pvalues: Sequence[float | None], method: str = "bh") -> list[float | None]:
    """Adjusted p-values in the input order; ``method`` is "bh", "bonferroni" or "none"."""
    if method not in CORRECTIONS:
        raise InvalidInput(f"unknown multiple-testing correction {method!r}; use one of {', '.join(CORRECTIONS)}")
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if not idx:
        return out
    p = np.array([pvalues[i] for i in idx], dtype=np.float64)
    if np.any(np.isnan(p)) or np.any(p < 0) or np.any(p > 1):
        raise InvalidInput("p-values must lie in [0, 1]")
    m = p.shape[0]
    if method == "none":
        adj = p
    elif method == "bonferroni":
        adj = np.minimum(1.0, p * m)
    else:
        order = np.argsort(p, kind="stable")
        ranked = p[order] * m / np.arange(1, m + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, ranked)
    for k, i in enumerate(idx):
        out[i] = float(adj[k])
    return out
