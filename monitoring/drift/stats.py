"""Drift statistics: pure functions of arrays and numbers (KS, PSI, chi-square, categorical tables).

This module owns the arithmetic; the drift *methods* (monitoring.drift.methods: one module per
method, with its threshold, fit and mergeable accumulator) are built on it. No I/O, no clock, no
globals. scipy is imported lazily so that importing this module is cheap. The one-shot
functions ``ks_method``, ``psi_method``, ``chi2_method`` and ``psi_categorical_method`` compute a
statistic from two whole samples (tests and ad-hoc use); runs go through the accumulators.

Sources of the formulas:
- KS: two-sample Kolmogorov-Smirnov, D = sup_x |F_ref(x) - F_cur(x)| (Smirnov 1939); the p-value
  is ``scipy.stats.ks_2samp``'s own when max(n, m) <= 10,000 (its exact distribution), otherwise
  Smirnov's asymptotic ``kstwo.sf(D, round(n*m/(n+m)))``, whose Birnbaum-Tingey series
  ``kstwo_sf`` sums vectorised for large n).
- KS on histograms: the same D computed from the two CDFs at reference quantile knots, with the
  bound derived in ``ks_from_knot_counts`` (below 1/K for K knot intervals; K = 4096 in profiles).
- PSI: population stability index, sum((cur - ref) * ln(cur / ref)) over bins (Yurdakul 2018),
  edges = numpy.unique(numpy.quantile(reference, [1/B, ..., (B-1)/B])), a bin share of 0 -> 1e-4.
- Chi-square: Pearson's test of homogeneity on the 2 x K table (``scipy.stats.chi2_contingency``,
  no continuity correction).
- Rare categories (``group_rare_levels``, applied by the drift engine in ``compare`` before its
  chi-square and categorical PSI): a level keeps its own cell only if (a) its expected count
  under homogeneity is at least 5 in both rows (Cochran 1954, "Some methods for strengthening
  the common chi-square tests", Biometrics 10: the chi-square approximation needs expected
  counts of at least 5) and (b) it is among the K_max - 1 most frequent levels (pooled counts),
  K_max = max(2, 1 + floor(0.05 / (1/n_ref + 1/n_cur))). (b) bounds PSI's bias: with no drift,
  PSI over K cells is asymptotically (1/n_ref + 1/n_cur) chi2(K - 1) (Yurdakul 2018), expectation
  (K - 1)(1/n_ref + 1/n_cur), so at most 0.05, half the 0.1 "moderate" line (below about 40
  values a side, the floor of 2 cells still tests the most frequent level against the rest).
  The other levels are pooled into one level ``__other__``, as credit-scorecard practice
  coarse-classes sparse attributes before computing PSI (Siddiqi 2006, "Credit Risk
  Scorecards"). Without it, 50,000 levels drawn twice from one distribution gave PSI 2.03
  ("significant") beside a chi-square p of 0.80. The grouping is a function of the pooled
  (column) totals only, which the null hypothesis fixes, so the chi-square test on the grouped
  table keeps its level. A shift among levels that are each rare is seen only through the share
  of ``__other__``.
- Missing values: None, NaN and the empty string (CSV cannot tell an empty string from a null,
  so the same data in any format gives the same result) are missing, never a category; missing
  shares are data quality (``compare``), not part of the distributions. ``+inf``/``-inf`` in a
  numeric column are non-finite: counted, and excluded from KS and PSI like missing values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InvalidInput

ZERO_SHARE = 1e-4
#: Above this many values on either side scipy's ks_2samp (method="auto") is asymptotic.
SCIPY_EXACT_MAX_N = 10_000
#: From this n (= round(n1 n2 / (n1 + n2))) the asymptotic KS p-value's Smirnov series is summed
#: vectorised (``kstwo_sf``) instead of by scipy's scalar loop.
KS_FAST_MIN_N = 10_000
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
#: Rare-level grouping (see the module docstring): minimum expected count per cell (Cochran 1954)
#: and the bound on PSI's expectation under no drift that caps the number of cells.
MIN_EXPECTED_COUNT = 5.0
PSI_NULL_BUDGET = 0.05
OTHER_LEVEL = "__other__"


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class KSResult:
    statistic: float
    pvalue: float
    n_reference: int
    n_current: int
    method: str  # "exact" | "asymp" (scipy's choice) | "histogram"
    error_bound: float = 0.0  # bound on |statistic - true D|; 0 when computed from all values


@dataclass(frozen=True)
class PSIResult:
    value: float
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    pvalue: float
    dof: int
    categories: tuple[str, ...]


# --------------------------------------------------------------------------- helpers
def as_float_array(values: Any, what: str = "values") -> np.ndarray:
    """Values (numpy, list, pandas Series, pyarrow array) as a 1-D float64 array with NaN for
    missing; raises InvalidInput naming ``what`` when they are not numeric."""
    try:
        if hasattr(values, "type") and hasattr(values, "to_numpy"):  # pyarrow Array / ChunkedArray
            values = _arrow_numbers(values)
        elif hasattr(values, "dtype") and hasattr(values, "to_numpy") and values.dtype.kind not in "fiub":
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)  # pandas nullable / object
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not numeric ({exc}); list it as categorical") from None
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return arr


_ARROW_NUMPY = {"double": np.float64, "float": np.float32, "int64": np.int64, "int32": np.int32}


def _arrow_numbers(values: Any) -> Any:
    """NumPy view of a null-free numeric Arrow array straight from its data buffer (pyarrow's
    to_numpy imports pandas, ~0.5 s); anything else goes through to_numpy."""
    chunks = values.chunks if hasattr(values, "chunks") else [values]
    dtype = _ARROW_NUMPY.get(str(values.type))
    if dtype is None or any(c.null_count for c in chunks):
        return values.to_numpy(zero_copy_only=False)
    parts = [np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * np.dtype(dtype).itemsize)
             for c in chunks]
    if not parts:
        return np.empty(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def drop_missing(arr: np.ndarray) -> np.ndarray:
    mask = np.isnan(arr)
    return arr[~mask] if mask.any() else arr


def drop_non_finite(arr: np.ndarray) -> np.ndarray:
    """The finite values: NaN (missing) and +-inf (non-finite) removed."""
    mask = np.isfinite(arr)
    return arr if mask.all() else arr[mask]


def strip_infinite_sorted(s: np.ndarray) -> tuple[np.ndarray, int]:
    """(finite part, number of +-inf) of a sorted, NaN-free float array: -inf sort first and
    +inf last, so two binary searches find them without another pass over the data."""
    if s.shape[0] == 0 or (np.isfinite(s[0]) and np.isfinite(s[-1])):
        return s, 0
    lo = int(np.searchsorted(s, -np.inf, side="right"))
    hi = int(np.searchsorted(s, np.inf, side="left"))
    return s[lo:hi], lo + int(s.shape[0]) - hi


def severity_from_psi(psi: float | None) -> str:
    """PSI levels: < 0.1 none, 0.1-0.25 moderate, >= 0.25 significant (None -> none)."""
    if psi is None or not math.isfinite(psi) or psi < PSI_MODERATE:
        return "none"
    return "moderate" if psi < PSI_SIGNIFICANT else "significant"


# --------------------------------------------------------------------------- KS
def ks_pvalue(d: float, n1: int, n2: int) -> tuple[float, float, str]:
    """(statistic, p-value, "asymp") of a two-sided two-sample KS statistic ``d`` for samples too
    large for scipy's exact distribution (max(n1, n2) > SCIPY_EXACT_MAX_N), exactly as
    scipy.stats.ks_2samp(method="auto") finishes there: Smirnov's asymptotic
    kstwo.sf(d, round(n1 n2 / (n1 + n2))). Smaller samples: :func:`ks_sorted`, which asks scipy's
    public ks_2samp for the exact p-value (the exact distribution is a function of the data's
    sizes and D only, but SciPy exposes it only through ks_2samp)."""
    if max(n1, n2) <= SCIPY_EXACT_MAX_N:
        raise InvalidInput(f"ks_pvalue is the asymptotic p-value (max(n1, n2) > {SCIPY_EXACT_MAX_N}); "
                           "use ks_sorted on the samples for the exact one")
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    return d, float(np.clip(kstwo_sf(d, en), 0, 1)), "asymp"


def ks_exact_scipy(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float, str]:
    """(statistic, p-value, method) from the public scipy.stats.ks_2samp (default arguments) for
    samples with max(n1, n2) <= SCIPY_EXACT_MAX_N: exact, or scipy's own fallback to the
    asymptotic formula when the exact computation fails (told apart by comparing with it)."""
    from scipy import stats

    res = stats.ks_2samp(ref, cur)
    d, p = float(res.statistic), float(res.pvalue)
    m, n = sorted([float(ref.shape[0]), float(cur.shape[0])], reverse=True)
    with np.errstate(all="ignore"):  # one value a side: round(0.5) = 0 values, no asymptote
        asymp = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    return d, p, "asymp" if p == asymp and p not in (0.0, 1.0) else "exact"


def ks_pvalue_needs_scipy_stats(n1: int, n2: int) -> bool:
    """Whether ``ks_pvalue`` for samples of these sizes goes to scipy.stats (exact small-sample
    distribution, or n below KS_FAST_MIN_N); otherwise only a rare (n, d) corner of ``kstwo_sf``
    does, importing it on demand."""
    if min(n1, n2) == 0 or max(n1, n2) <= SCIPY_EXACT_MAX_N:
        return True
    return round(n1 * n2 / (n1 + n2)) < KS_FAST_MIN_N


# Why a port of scipy's kstwo.sf branches and not the public scipy.stats.kstwo.sf: importing
# scipy.stats costs 0.6-0.8 s, a third of a file-mode run on 200,000 rows, and scipy sums the
# Smirnov series in a scalar loop; tests/unit/drift/test_drift_methods.py holds every branch equal
# to the public scipy.stats.kstwo.sf on every test run.
def kstwo_sf(d: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: P(D_n >= d) of the two-sided one-sample KS statistic.

    For n >= KS_FAST_MIN_N and 1/n < d < 0.5 this follows scipy's own branches (Simard and
    L'Ecuyer 2011) without importing scipy.stats, which costs 0.6-0.8 s, a third of a file-mode
    run on 200,000 rows:
    - n d^2 >= 370: 0;
    - n d^2 >= 2.2: 2 * smirnov(n, d), the Birnbaum-Tingey series, which scipy sums term by term
      (0.1 s at n = 100,000, 0.6 s at 500,000, holding the GIL) and ``smirnov_series`` sums as one
      vectorised expression, within 1e-9 relative of scipy;
    - below that, 1 - Pelz-Good's approximation of the CDF (``_pelz_good_cdf``, scipy's code),
      except where scipy uses the Durbin matrix (n <= 100,000 and n d^1.5 <= 1.4: p-values above
      0.9999), which scipy itself answers, as it does for every other (n, d).
    """
    if n >= KS_FAST_MIN_N and 1.0 / n < d < 0.5:
        nd2 = n * d * d
        if nd2 >= 370.0:
            return 0.0
        if nd2 >= 2.2:
            return min(1.0, 2.0 * smirnov_series(int(n), d))
        if not (n <= 100_000 and n * d**1.5 <= 1.4):
            return float(np.clip(1.0 - _pelz_good_cdf(n, d), 0.0, 1.0))
    from scipy import stats

    return float(stats.kstwo.sf(d, n))


_PI2, _PI4, _PI6 = np.pi**2, np.pi**4, np.pi**6
_SQRT2PI, _SQRT3 = np.sqrt(2 * np.pi), np.sqrt(3)


def _pelz_good_cdf(n: float, x: float) -> float:
    """Pelz and Good (1976): P(D_n <= x) ~ K0(z) + K1(z)/sqrt(n) + K2(z)/n + K3(z)/n^1.5, z = x sqrt(n).

    The same operations in the same order as scipy 1.17's ``scipy.stats._ksstats._kolmogn_PelzGood``
    (BSD-3-Clause, Copyright the SciPy developers), so the floats are scipy's;
    ``test_kstwo_sf_equals_scipy_on_both_sides_of_each_branch`` holds it to that.
    """
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / zsquared
    if qlog < -708:
        return 0.0
    q = np.exp(qlog)
    k1a, k1b = -zsquared, _PI2 / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * zsquared) / 16
    k3d = _PI6 * (5 - 30 * zsquared) / 64
    k3c = _PI4 * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI2 * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8
    k0to3 = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):  # Horner over the odd terms
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        k0to3 *= np.power(q, 8 * k)
        k0to3 += np.array([1.0, k1a + k1b * msquared, k2a + k2b * msquared + k2c * mfour,
                           k3a + k3b * msquared + k3c * mfour + k3d * msix])
    k0to3 *= q
    k0to3 *= _SQRT2PI
    k0to3 /= np.array([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    q = np.exp(-_PI2 / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks**2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q**ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI2 * _SQRT2PI / (-36 * zthree)
    k0to3[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI2 * _SQRT2PI / (216 * zsix)
    k0to3[3] += k3extra
    k0to3 /= np.power(n * 1.0, np.arange(4) / 2.0)
    return float(sum(k0to3))


def smirnov_series(n: int, d: float) -> float:
    """P(D+_n >= d), one-sided (Birnbaum and Tingey 1951; Smirnov 1944):
    sum over v = 0..floor(n (1 - d)) of C(n, v) d (d + v/n)^(v - 1) (1 - d - v/n)^(n - v),
    each term evaluated in logs (gammaln for the binomial coefficient) and summed at once."""
    from scipy import special

    v = np.arange(int(math.floor(n * (1.0 - d))) + 1, dtype=np.float64)
    a = d + v / n
    log_terms = (special.gammaln(n + 1.0) - special.gammaln(v + 1.0) - special.gammaln(n - v + 1.0)
                 + math.log(d) + (v - 1.0) * np.log(a) + special.xlogy(n - v, np.maximum(1.0 - a, 0.0)))
    return float(np.sum(np.exp(log_terms)))


def ks_statistic_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Two-sided KS statistic of two sorted, NaN-free, non-empty samples, bit-equal to scipy's.

    With a_i the sorted reference, R_i = #cur <= a_i and L_i = #cur < a_i:
    D+ = max_i ((i+1)/n1 - R_i/n2): sup(F1 - F2) is reached at a reference point (within a run of
    ties the last element carries the true count, earlier ones only smaller values);
    D- = max_i (L_i/n2 - i/n1): sup(F2 - F1) is reached just before a reference jump, i.e. at the
    largest pooled value below a_i (the first element of a run carries the true count).
    D = max(D+, D-, 0). Each term is the same count/n difference scipy's ks_2samp evaluates at a
    pooled data point, so the maximum is the same float. One searchsorted; L_i = R_i except
    where a current value equals a_i, which is detected and recounted.
    """
    n1, n2 = ref_sorted.shape[0], cur_sorted.shape[0]
    right = np.searchsorted(cur_sorted, ref_sorted, side="right")
    # the same floats as (i + 1) / n1, i / n1 and R_i / n2, with fewer temporaries
    frac1 = np.arange(n1 + 1, dtype=np.float64)
    frac1 /= n1
    frac2 = right.astype(np.float64)
    frac2 /= n2
    diff = np.subtract(frac1[1:], frac2)
    d_plus = float(diff.max())
    # a tie: the current value just below position R_i equals a_i (take: no boolean gather)
    below = cur_sorted.take(np.maximum(right - 1, 0))
    tied = (below == ref_sorted) & (right > 0)
    if tied.any():
        left = right.copy()
        left[tied] = np.searchsorted(cur_sorted, ref_sorted[tied], side="left")
        frac2 = left / n2
    np.subtract(frac2, frac1[:-1], out=diff)
    d_minus = float(diff.max())
    return min(max(d_plus, d_minus, 0.0), 1.0)


def ks_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> KSResult:
    """KS from two sorted, NaN-free samples; equal to scipy.stats.ks_2samp (default arguments):
    scipy's own ks_2samp up to SCIPY_EXACT_MAX_N values a side, beyond it the statistic from
    ``ks_statistic_sorted`` and the asymptotic p-value from ``ks_pvalue``."""
    n1, n2 = ref_sorted.shape[0], cur_sorted.shape[0]
    if n1 == 0 or n2 == 0:
        raise InvalidInput("KS needs at least one non-missing value on each side")
    if max(n1, n2) <= SCIPY_EXACT_MAX_N:
        d, p, how = ks_exact_scipy(ref_sorted, cur_sorted)
    else:
        d, p, how = ks_pvalue(ks_statistic_sorted(ref_sorted, cur_sorted), n1, n2)
    return KSResult(d, p, n1, n2, how)


def ks_from_knot_counts(knots_n: int, ref_lt: np.ndarray, ref_le: np.ndarray, n_ref: int,
                        cur_lt: np.ndarray, cur_le: np.ndarray, n_cur: int) -> KSResult:
    """KS statistic from both samples' counts at K+1 sorted, distinct knots x_0 < ... < x_K.

    ``*_lt[k]`` = #values < x_k, ``*_le[k]`` = #values <= x_k. At each knot both empirical CDFs are
    known exactly (just below and at it), which gives a lower bound L <= D (every value is reached
    at a data point). Inside an open interval (x_{k-1}, x_k) F_R rises by at most
    dR_k = (ref_lt[k] - ref_le[k-1]) / n_ref, so |F_C - F_R| there is at most
    max(C_lt[k] - R_le[k-1], R_lt[k] - C_le[k-1]) <= L + dR_k: hence L <= D <= U with
    U - L <= max_k dR_k, which is < 1/K when the knots are the reference's quantiles at ranks
    k*n/K. Reported: statistic L and error_bound U - L (< 1/K), i.e. D lies in
    [statistic, statistic + error_bound]. L, not the midpoint: within an interval both CDFs move
    together unless the data drifted, so L is far closer to D than the worst case, and it errs on
    the conservative side (a midpoint estimate inflated null statistics enough to double false
    alarms at n = 1,000,000). Beyond the outer knots (reference minimum and maximum) the CDFs are
    exact. The p-value is Kolmogorov's limiting one (``ks_limit_pvalue``) for the statistic.
    """
    del knots_n
    rl, rq = ref_lt / n_ref, ref_le / n_ref
    cl, cq = cur_lt / n_cur, cur_le / n_cur
    lower = float(max(np.max(np.abs(cq - rq)), np.max(np.abs(cl - rl))))
    upper = lower
    if len(rl) > 1:
        upper = max(upper, float(np.max(cl[1:] - rq[:-1])), float(np.max(rl[1:] - cq[:-1])))
    d = min(lower, 1.0)
    return KSResult(d, ks_limit_pvalue(d, n_ref, n_cur), int(n_ref), int(n_cur), "histogram", upper - lower)


def ks_limit_pvalue(d: float, n1: int, n2: int) -> float:
    """Kolmogorov's limiting distribution: P(D >= d) ~ kstwobign.sf(d * sqrt(n1 n2 / (n1 + n2))).

    Used on the histogram path (large samples), where scipy's finite-n kstwo.sf costs up to
    0.3 s per call near the critical region at n = 500,000 and differs from the limit by
    O(1/sqrt(n)) relative, far less than the statistic's own error bound moves it.
    """
    from scipy import special  # kstwobign.sf is special.kolmogorov; scipy.stats costs 0.7 s to import

    en = n1 * n2 / (n1 + n2)
    return float(np.clip(special.kolmogorov(d * math.sqrt(en)), 0, 1))


def ks_method(reference: Any, current: Any, settings: Mapping[str, Any] | None = None) -> KSResult:
    """Two-sided two-sample Kolmogorov-Smirnov test, missing values and +-inf excluded.

    D = sup_x |F_ref(x) - F_cur(x)|; p-value as scipy.stats.ks_2samp with default arguments.
    """
    del settings
    ref = np.sort(drop_non_finite(as_float_array(reference, "reference")))
    cur = np.sort(drop_non_finite(as_float_array(current, "current")))
    return ks_sorted(ref, cur)


# --------------------------------------------------------------------------- PSI
def psi_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner PSI edges: numpy.unique(numpy.quantile(finite reference values, [1/B .. (B-1)/B]))."""
    if bins < 2:
        raise InvalidInput(f"PSI needs at least 2 bins, got {bins}")
    ref = drop_non_finite(as_float_array(reference, "reference"))
    if ref.size == 0:
        return np.empty(0, dtype=np.float64)
    return np.unique(np.quantile(ref, np.arange(1, bins) / bins))


def psi_bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin, bin = numpy.searchsorted(edges, v, side="left") (right-closed bins)."""
    idx = np.searchsorted(edges, values, side="left")
    return np.bincount(idx, minlength=len(edges) + 1)


def psi_bin_counts_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The same counts from sorted, NaN-free values (#(e_{i-1} < v <= e_i) via searchsorted)."""
    le = np.searchsorted(sorted_values, edges, side="right")
    cum = np.concatenate(([0], le, [sorted_values.shape[0]]))
    return np.diff(cum)


def psi_from_counts(ref_counts: Sequence[float] | np.ndarray,
                    cur_counts: Sequence[float] | np.ndarray) -> PSIResult:
    """PSI = sum((cur - ref) * ln(cur / ref)) over shares; a share of 0 becomes 1e-4."""
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    if r.shape != c.shape:
        raise InvalidInput("PSI needs the same bins on both sides")
    if r.sum() <= 0 or c.sum() <= 0:
        raise InvalidInput("PSI needs at least one non-missing value on each side")
    rs, cs = r / r.sum(), c / c.sum()
    rs = np.where(rs == 0, ZERO_SHARE, rs)
    cs = np.where(cs == 0, ZERO_SHARE, cs)
    value = float(np.sum((cs - rs) * np.log(cs / rs)))
    return PSIResult(value, tuple(float(x) for x in rs), tuple(float(x) for x in cs))


def psi_method(reference: Any, current: Any, settings: Mapping[str, Any] | None = None) -> PSIResult:
    """Population stability index on B reference-quantile bins (B = settings["bins"], 10).

    edges = numpy.unique(numpy.quantile(ref, [1/B..(B-1)/B])); bin = searchsorted(edges, v, "left");
    PSI = sum((cur - ref) * ln(cur / ref)), a zero share replaced by 1e-4. Missing values and +-inf
    excluded.
    """
    bins = int((settings or {}).get("bins", 10))
    ref = drop_non_finite(as_float_array(reference, "reference"))
    cur = drop_non_finite(as_float_array(current, "current"))
    edges = psi_edges(ref, bins)
    return psi_from_counts(psi_bin_counts(ref, edges), psi_bin_counts(cur, edges))


# --------------------------------------------------------------------------- categorical
def is_missing(v: Any) -> bool:
    """None, float NaN (also numpy's), pandas' NA / NaT and the empty string count as missing.

    The empty string: CSV has no other way to write a null, so a categorical value read as ""
    from CSV and a null read from Parquet must count the same (issue 8, item 11)."""
    if v is None:
        return True
    if isinstance(v, str):
        return v == ""
    if isinstance(v, (float, np.floating)):
        return bool(np.isnan(v))
    return type(v).__name__ in ("NAType", "NaTType")


def categorical_missing_mask(col: Any) -> Any:
    """:func:`is_missing` over a pandas Series of categorical values, vectorised (null or "")."""
    return col.isna() | col.eq("")


def category_counts(values: Any) -> dict[str, int]:
    """Counts of non-missing values, keyed by their string form (``is_missing`` values skipped)."""
    out: dict[str, int] = {}
    for v in values:
        if is_missing(v):
            continue
        key = str(v)
        out[key] = out.get(key, 0) + 1
    return out


def value_counts(values: Any) -> tuple[dict[str, int], int]:
    """(counts of non-missing values keyed by their string form, number of missing values) of a
    pyarrow Array / ChunkedArray (through its value_counts) or any iterable."""
    if hasattr(values, "value_counts") and hasattr(values, "type"):  # pyarrow Array/ChunkedArray
        vc = values.value_counts()
        counts: dict[str, int] = {}
        missing = 0
        for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
            if is_missing(v):
                missing += c
            else:
                counts[str(v)] = counts.get(str(v), 0) + c
        return counts, missing
    vals = list(values)
    counts = category_counts(vals)
    return counts, len(vals) - sum(counts.values())


def union_table(ref: Mapping[str, int], cur: Mapping[str, int]) -> tuple[tuple[str, ...], np.ndarray]:
    cats = tuple(sorted(set(ref) | set(cur)))
    table = np.array([[ref.get(c, 0) for c in cats], [cur.get(c, 0) for c in cats]], dtype=np.float64)
    return cats, table


@dataclass(frozen=True)
class CategoryTable:
    """A 2 x K table of counts (row 0 reference, row 1 current) over ``categories``; ``grouped``
    levels were pooled into OTHER_LEVEL (the last category) by ``group_rare_levels``."""

    categories: tuple[str, ...]
    table: np.ndarray
    grouped: int = 0


def max_levels(n_reference: float, n_current: float, budget: float = PSI_NULL_BUDGET) -> int:
    """K_max = max(2, 1 + floor(budget / (1/n_ref + 1/n_cur))): with at most K_max cells, PSI's
    expectation under no drift, (K - 1)(1/n_ref + 1/n_cur) (Yurdakul 2018), stays within ``budget``
    (and at least one level is always tested against the rest)."""
    return max(2, 1 + int(math.floor(budget / (1.0 / n_reference + 1.0 / n_current) + 1e-9)))


def group_rare_levels(ref: Mapping[str, int], cur: Mapping[str, int], *,
                      min_expected: float = MIN_EXPECTED_COUNT,
                      budget: float = PSI_NULL_BUDGET) -> CategoryTable:
    """The union table with rare levels pooled into OTHER_LEVEL (rule and sources: module docstring).

    Kept on its own: a level whose pooled count c_j gives c_j * min(n_ref, n_cur) / N >=
    ``min_expected`` (its smaller expected cell count under homogeneity), at most
    ``max_levels(n_ref, n_cur, budget) - 1`` of them, most frequent first (ties by name). When the
    pooled OTHER_LEVEL would itself fall below ``min_expected``, the least frequent kept level
    joins it. With every level kept, the table is ``union_table``'s, unchanged.
    """
    cats, table = union_table(ref, cur)
    rows = table.sum(axis=1)
    if len(cats) < 2 or rows.min() <= 0:
        return CategoryTable(cats, table)
    total, smaller = float(rows.sum()), float(rows.min())
    pooled = table.sum(axis=0)
    k_max = max_levels(rows[0], rows[1], budget)
    cochran = pooled * smaller / total >= min_expected
    if cochran.all() and len(cats) <= k_max:
        return CategoryTable(cats, table)
    order = np.lexsort((np.arange(len(cats)), -pooled))  # most frequent first, then by name
    kept = np.array([i for i in order if cochran[i]][: max(k_max - 1, 0)], dtype=np.int64)
    rest = np.ones(len(cats), dtype=bool)
    rest[kept] = False
    other = table[:, rest].sum(axis=1)
    if kept.size and other.sum() * smaller / total < min_expected:
        other = other + table[:, kept[-1]]
        rest[kept[-1]] = True
        kept = kept[:-1]
    kept = np.sort(kept)  # the union table's (sorted) order, OTHER_LEVEL last
    names = tuple(cats[i] for i in kept) + (OTHER_LEVEL,)
    grouped = np.column_stack([table[:, kept], other]) if kept.size else other.reshape(2, 1)
    return CategoryTable(names, grouped, int(rest.sum()))


def chi2_from_table(cats: Sequence[str], table: np.ndarray) -> ChiSquareResult:
    """Pearson chi-square test of homogeneity on a 2 x K table of counts; equal to
    scipy.stats.chi2_contingency(table, correction=False); one category: statistic 0, p 1."""
    if table[0].sum() == 0 or table[1].sum() == 0:
        raise InvalidInput("chi-square needs at least one non-missing value on each side")
    if len(cats) == 1:  # one category on both sides: no evidence of change
        return ChiSquareResult(0.0, 1.0, 0, tuple(cats))
    from scipy import stats

    res = stats.chi2_contingency(table, correction=False)
    return ChiSquareResult(float(res.statistic), float(res.pvalue), int(res.dof), tuple(cats))


def chi2_method(reference: Any, current: Any, settings: Mapping[str, Any] | None = None) -> ChiSquareResult:
    """Pearson chi-square test of homogeneity, 2 x K table over the union of categories, no
    continuity correction (scipy.stats.chi2_contingency(correction=False)). With
    settings["group_rare"] true, rare levels are pooled first (``group_rare_levels``)."""
    table = _categorical_table(reference, current, settings)
    return chi2_from_table(table.categories, table.table)


def _categorical_table(reference: Any, current: Any, settings: Mapping[str, Any] | None) -> CategoryTable:
    ref, cur = category_counts(reference), category_counts(current)
    if (settings or {}).get("group_rare"):
        return group_rare_levels(ref, cur)
    return CategoryTable(*union_table(ref, cur))


def psi_categorical_method(reference: Any, current: Any,
                           settings: Mapping[str, Any] | None = None) -> PSIResult:
    """PSI over the union of categories: sum((cur - ref) * ln(cur / ref)), zero share -> 1e-4.
    With settings["group_rare"] true, rare levels are pooled first (``group_rare_levels``)."""
    table = _categorical_table(reference, current, settings)
    return psi_from_counts(table.table[0], table.table[1])
