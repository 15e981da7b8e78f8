"""Reference profiles: fitted once on reference data, stored, reused for every window.

Per numeric feature: the sorted non-missing values when there are at most ``exact_cap`` of them
(exact KS), and always ``KNOT_INTERVALS + 1`` quantile knots (the values at ranks k*n/K, made
distinct) with the exact counts of reference values below and at each knot (histogram KS beyond
the cap, error < 1/K), the PSI edges and reference bin counts (fitted once so PSI is
comparable across windows), missing count, min, max, mean and standard deviation. ``+inf`` and
``-inf`` are not part of the fit (a reference with them printed NumPy warnings and gave NaN
mean and std): they are counted as ``n_non_finite`` and left out like missing values.
Per categorical feature: category counts and missing count.
Per feature and selected drift method: the state of the method's ``fit`` (``method_state``;
empty for KS, PSI and chi-square, which read the shared profile above).

Serialisation (``to_bytes`` / ``from_bytes``) is a NumPy ``.npz`` archive with a JSON header, no
pickle, so a stored profile cannot execute code when loaded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInput
from monitoring.drift.stats import (
    as_float_array,
    psi_bin_counts_sorted,
    psi_edges,
    strip_infinite_sorted,
    value_counts,
)

FORMAT_VERSION = 1
#: Number of knot intervals K of the quantile histogram; the KS error bound is < 1/K (0.00024).
KNOT_INTERVALS = 4096
DEFAULT_EXACT_CAP = 100_000


@dataclass(frozen=True, eq=False)
class NumericProfile:
    name: str
    n: int  # non-missing values
    n_missing: int
    sorted_values: np.ndarray | None  # all non-missing values, sorted; None beyond exact_cap
    knots: np.ndarray  # distinct quantile knots, ascending (x_0 = min, x_K = max)
    knot_lt: np.ndarray  # #values < knot
    knot_le: np.ndarray  # #values <= knot
    psi_edges: np.ndarray
    psi_counts: np.ndarray
    minimum: float
    maximum: float
    mean: float
    std: float
    n_non_finite: int = 0  # +-inf values, excluded from the fit
    method_state: dict[str, dict[str, Any]] = field(default_factory=dict)  # drift method -> fit state

    kind = "numeric"

    @property
    def exact(self) -> bool:
        return self.sorted_values is not None

    @property
    def missing_share(self) -> float:
        total = self.n + self.n_missing + self.n_non_finite
        return self.n_missing / total if total else 0.0


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    name: str
    n: int
    n_missing: int
    counts: dict[str, int] = field(default_factory=dict)
    method_state: dict[str, dict[str, Any]] = field(default_factory=dict)  # drift method -> fit state

    kind = "categorical"

    @property
    def missing_share(self) -> float:
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0


FeatureProfile = NumericProfile | CategoricalProfile


def fit_methods(kind: str, reference: Any, methods: Sequence[Any], bins: int) -> dict[str, dict[str, Any]]:
    """Each selected drift method's ``fit`` state for one feature (methods without state omitted)."""
    from monitoring.drift.methods import CategoricalBatch, NumericBatch, Settings

    batch = NumericBatch(reference) if kind == "numeric" else CategoricalBatch(reference)
    out = {}
    for m in methods:
        if kind in m.kinds:
            state = m.fit(batch, Settings(bins=bins))
            if state:
                out[m.name] = state
    return out


def method_state(feature: FeatureProfile, method: Any, bins: int) -> dict[str, Any]:
    """``method``'s fit state of ``feature``: stored in the profile, else fitted now from the
    profile's reference values (all kept: categorical counts, or numeric values within the exact
    cap); InvalidInput when a stateful method meets a profile that kept too little."""
    if method.name in feature.method_state:
        return feature.method_state[method.name]
    from monitoring.drift.methods import DriftMethod

    if type(method).fit is DriftMethod.fit:
        return {}
    if isinstance(feature, CategoricalProfile):
        return fit_methods("categorical", feature.counts, [method], bins).get(method.name, {})
    if feature.sorted_values is None:
        raise InvalidInput(f"drift method {method.name!r} needs its fit on the reference of {feature.name!r}, "
                           "and this profile predates the method and kept no reference values; refit "
                           "the reference profile")
    return fit_methods("numeric", feature.sorted_values, [method], bins).get(method.name, {})


def fit_numeric(name: str, values: Any, *, exact_cap: int = DEFAULT_EXACT_CAP, bins: int = 10,
                knot_intervals: int = KNOT_INTERVALS, methods: Sequence[Any] = ()) -> NumericProfile:
    """Profile one numeric column (NaN and None are missing; +-inf are counted, not fitted)."""
    arr = as_float_array(values, f"column {name!r}")
    n_missing = int(np.count_nonzero(np.isnan(arr)))
    s = np.sort(arr)  # NaN sort to the end
    s = s[: s.shape[0] - n_missing]
    s, n_non_finite = strip_infinite_sorted(s)
    n = int(s.shape[0])
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return NumericProfile(name, 0, n_missing, empty if exact_cap >= 0 else None, empty,
                              np.empty(0, np.int64), np.empty(0, np.int64), empty,
                              np.zeros(1, np.int64), float("nan"), float("nan"), float("nan"), float("nan"),
                              n_non_finite)
    if n <= knot_intervals + 1:
        knots = np.unique(s)
    else:
        ranks = np.ceil(np.arange(knot_intervals + 1) * (n - 1) / knot_intervals).astype(np.int64)
        knots = np.unique(s[ranks])
    knot_lt = np.searchsorted(s, knots, side="left").astype(np.int64)
    knot_le = np.searchsorted(s, knots, side="right").astype(np.int64)
    edges = psi_edges(s, bins)
    return NumericProfile(
        name=name, n=n, n_missing=n_missing,
        sorted_values=s if n <= exact_cap else None,
        knots=knots, knot_lt=knot_lt, knot_le=knot_le,
        psi_edges=edges, psi_counts=psi_bin_counts_sorted(s, edges).astype(np.int64),
        minimum=float(s[0]), maximum=float(s[-1]), mean=float(np.mean(s)), std=float(np.std(s)),
        n_non_finite=n_non_finite, method_state=fit_methods("numeric", s, methods, bins),
    )


def fit_categorical(name: str, values: Any, *, methods: Sequence[Any] = (), bins: int = 10) -> CategoricalProfile:
    """Profile one categorical column: counts by string form; None/NaN are missing."""
    counts, missing = value_counts(values)
    counts = dict(sorted(counts.items()))
    return CategoricalProfile(name, sum(counts.values()), missing, counts,
                              fit_methods("categorical", counts, methods, bins) if counts else {})


def _column(frame: Any, name: str) -> Any:
    """A column of a pandas DataFrame, pyarrow Table/RecordBatch or mapping of arrays."""
    try:
        if hasattr(frame, "column_names"):  # pyarrow
            return frame.column(name)
        return frame[name]
    except (KeyError, IndexError):
        raise InvalidInput(f"column {name!r} is missing from the reference data") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types
        raise InvalidInput(f"column {name!r} is missing from the reference data ({exc})") from None


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Everything a comparison needs from the reference, for features in a fixed order."""

    features: tuple[FeatureProfile, ...]
    rows: int
    exact_cap: int = DEFAULT_EXACT_CAP
    bins: int = 10

    @classmethod
    def fit(cls, frame: Any, numeric: Sequence[str], categorical: Sequence[str] = (), *,
            exact_cap: int = DEFAULT_EXACT_CAP, bins: int = 10, methods: Sequence[Any] = ()) -> ReferenceProfile:
        """Fit on a DataFrame (or pyarrow Table, or mapping name -> array); ``methods``: the drift
        methods (monitoring.drift.methods) whose fit state the profile keeps."""
        overlap = set(numeric) & set(categorical)
        if overlap:
            raise InvalidInput(f"columns listed both numeric and categorical: {sorted(overlap)}")
        feats: list[FeatureProfile] = []
        for name in numeric:
            feats.append(fit_numeric(name, _column(frame, name), exact_cap=exact_cap, bins=bins, methods=methods))
        for name in categorical:
            feats.append(fit_categorical(name, _column(frame, name), methods=methods, bins=bins))
        rows = len(frame) if not hasattr(frame, "num_rows") else int(frame.num_rows)
        if isinstance(frame, Mapping) and feats:
            first = _column(frame, (list(numeric) + list(categorical))[0])
            rows = len(first)
        return cls(tuple(feats), int(rows), exact_cap, bins)

    @classmethod
    def from_features(cls, features: Iterable[FeatureProfile], rows: int, *,
                      exact_cap: int = DEFAULT_EXACT_CAP, bins: int = 10) -> ReferenceProfile:
        return cls(tuple(features), int(rows), exact_cap, bins)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> FeatureProfile:
        for f in self.features:
            if f.name == name:
                return f
        raise InvalidInput(f"feature {name!r} is not in the reference profile")

    # ------------------------------------------------------------------ serialisation
    def to_bytes(self) -> bytes:
        header: dict[str, Any] = {"format": FORMAT_VERSION, "rows": self.rows, "exact_cap": self.exact_cap,
                                  "bins": self.bins, "features": []}
        arrays: dict[str, np.ndarray] = {}
        for i, f in enumerate(self.features):
            if isinstance(f, NumericProfile):
                header["features"].append({
                    "name": f.name, "kind": "numeric", "n": f.n, "n_missing": f.n_missing,
                    "n_non_finite": f.n_non_finite, "exact": f.exact, "min": f.minimum, "max": f.maximum,
                    "mean": f.mean, "std": f.std})
                for key in ("knots", "knot_lt", "knot_le", "psi_edges", "psi_counts"):
                    arrays[f"{i}_{key}"] = getattr(f, key)
                if f.sorted_values is not None:
                    arrays[f"{i}_sorted"] = f.sorted_values
            else:
                header["features"].append({"name": f.name, "kind": "categorical", "n": f.n,
                                           "n_missing": f.n_missing, "counts": f.counts})
            if f.method_state:  # JSON values in the header, arrays beside the others
                header["features"][-1]["methods"] = {
                    m: {k: ("__array__" if isinstance(v, np.ndarray) else v) for k, v in state.items()}
                    for m, state in f.method_state.items()}
                for m, state in f.method_state.items():
                    for k, v in state.items():
                        if isinstance(v, np.ndarray):
                            arrays[f"{i}_m_{m}_{k}"] = v
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        try:
            npz = np.load(io.BytesIO(data), allow_pickle=False)
            header = json.loads(bytes(npz["header"]).decode("utf-8"))
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput(f"not a stored reference profile ({type(exc).__name__}: {exc})") from None
        if header.get("format") != FORMAT_VERSION:
            raise InvalidInput(f"reference profile format {header.get('format')} is not supported "
                               f"(this version reads {FORMAT_VERSION}); refit the profile")
        feats: list[FeatureProfile] = []
        for i, h in enumerate(header["features"]):
            state = {m: {k: (npz[f"{i}_m_{m}_{k}"] if v == "__array__" else v) for k, v in st.items()}
                     for m, st in h.get("methods", {}).items()}
            if h["kind"] == "numeric":
                feats.append(NumericProfile(
                    name=h["name"], n=int(h["n"]), n_missing=int(h["n_missing"]),
                    sorted_values=npz[f"{i}_sorted"] if h["exact"] else None,
                    knots=npz[f"{i}_knots"], knot_lt=npz[f"{i}_knot_lt"], knot_le=npz[f"{i}_knot_le"],
                    psi_edges=npz[f"{i}_psi_edges"], psi_counts=npz[f"{i}_psi_counts"],
                    minimum=float(h["min"]), maximum=float(h["max"]), mean=float(h["mean"]),
                    std=float(h["std"]), n_non_finite=int(h.get("n_non_finite", 0)), method_state=state))
            else:
                feats.append(CategoricalProfile(h["name"], int(h["n"]), int(h["n_missing"]),
                                                {str(k): int(v) for k, v in h["counts"].items()}, state))
        return cls(tuple(feats), int(header["rows"]), int(header["exact_cap"]), int(header["bins"]))
