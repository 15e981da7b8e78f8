"""The demo's 30-day traffic: when requests arrive, in which batch, with which inputs, how long
they take and whether they fail. Pure numpy with a fixed seed; the models score it later.

- Traffic follows a diurnal curve (peak around 14:00 UTC, weekends at 70%) averaging
  ``REQUESTS_PER_DAY`` per model; consecutive requests form batches of 1-32, larger when busy.
- Inputs are rows resampled from the whole data set plus 2% (of the feature's SD) noise on
  continuous features (none on discrete ones);
  ``site`` and ``patient_zip`` are drawn with the shares in :mod:`demo`.
- Drift incidents add ``shift_sd`` training SDs to their features and change the site mix.
- Latency is lognormal around ``BASE_LATENCY_MS`` scaled by batch size; the latency incident
  multiplies it and raises the error rate. 30% of requests carry their label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from demo import (
    BASE_LATENCY_MS,
    BASELINE_ERROR_RATE,
    LABEL_SHARE,
    MAX_BATCH_SIZE,
    REQUESTS_PER_DAY,
    SEED,
    TIMELINE_DAYS,
    Incident,
    incidents_for,
    timeline_bounds,
    version_spec_on_day,
)
from demo.data import DemoDataset, draw_categories

NOISE_SD = 0.02
LATENCY_SIGMA = 0.3
TIMEOUT_MS = 2000.0
ERRORS_GPU = "CUDA out of memory. Tried to allocate 512.00 MiB (GPU 0; 22.00 MiB free)"
ERRORS_TIMEOUT = "upstream timeout after 2000 ms"
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class Timeline:
    """One row per request, ordered by arrival; ``batch`` numbers consecutive batches."""

    model: str
    start: datetime
    end: datetime
    arrival_us: np.ndarray  # int64 microseconds since the epoch (UTC)
    finished_us: np.ndarray  # arrival + latency
    batch: np.ndarray  # int64 batch index
    batch_size: np.ndarray  # int64
    day: np.ndarray  # 1-based day of the timeline
    request_id: np.ndarray  # object (str)
    X: np.ndarray  # float64 rows x numeric features
    categorical: dict[str, np.ndarray]  # column -> object array
    target: np.ndarray  # the true label/value of the resampled row
    label_known: np.ndarray  # bool
    version_spec: np.ndarray  # object (v2, v3, ...)
    latency_ms: np.ndarray
    status: np.ndarray  # object: ok / error
    error: np.ndarray  # object: message or None

    def __len__(self) -> int:
        return len(self.arrival_us)

    def in_window(self, start: datetime, end: datetime) -> np.ndarray:
        return (self.arrival_us >= _us(start)) & (self.arrival_us < _us(end))


def _us(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp()) * 1_000_000 + moment.microsecond


def hourly_weights(hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Relative traffic of an hour: a daytime bump on a night floor, weekends at 70%."""
    bump = np.exp(-((hour + 0.5 - 14.0) ** 2) / (2 * 4.0**2))
    return (0.25 + bump) * np.where(weekday >= 5, 0.7, 1.0)


def _arrivals(rng: np.random.Generator, per_day: float, start: datetime, end: datetime) -> np.ndarray:
    hours = int((end - start).total_seconds() // 3600)
    starts = np.array([_us(start) + h * _US_PER_HOUR for h in range(hours)], dtype=np.int64)
    moments = [start + timedelta(hours=h) for h in range(hours)]
    weights = hourly_weights(np.array([m.hour for m in moments]), np.array([m.weekday() for m in moments]))
    # Scale so that an average weekday-weighted day has REQUESTS_PER_DAY requests.
    day_weight = hourly_weights(np.arange(24), np.zeros(24)).sum() * (5 + 2 * 0.7) / 7
    expected = weights * per_day / day_weight
    counts = rng.poisson(expected)
    offsets = rng.integers(0, _US_PER_HOUR, size=int(counts.sum()), dtype=np.int64)
    arrival = np.repeat(starts, counts) + offsets
    return np.sort(arrival)


def _batches(rng: np.random.Generator, arrival_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group consecutive requests into batches; busier hours make bigger batches."""
    n = len(arrival_us)
    hour = arrival_us // _US_PER_HOUR
    _, per_hour = np.unique(hour, return_counts=True)
    load = np.repeat(per_hour / max(per_hour.max(), 1), per_hour)
    batch = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    i = b = 0
    draws = rng.poisson(1.0 + 11.0 * load)
    while i < n:
        k = int(min(MAX_BATCH_SIZE, 1 + draws[i], n - i))
        batch[i : i + k] = b
        size[i : i + k] = k
        i += k
        b += 1
    return batch, size


def _incident_mask(incident: Incident, arrival_us: np.ndarray, anchor: datetime) -> np.ndarray:
    lo, hi = incident.window(anchor)
    return (arrival_us >= _us(lo)) & (arrival_us < _us(hi))


def build_timeline(data: DemoDataset, anchor: datetime, *, seed: int = SEED, scale: float = 1.0) -> Timeline:
    """The whole 30-day timeline of one model, deterministic for (data, anchor, seed, scale).

    ``scale`` multiplies the traffic (tests use a fraction to stay fast)."""
    start, end = timeline_bounds(anchor)
    rng = np.random.default_rng([seed, sum(data.model.encode())])
    arrival = _arrivals(rng, REQUESTS_PER_DAY[data.model] * scale, start, end)
    n = len(arrival)
    batch, batch_size = _batches(rng, arrival)
    day = ((arrival - _us(start)) // (24 * _US_PER_HOUR) + 1).astype(np.int64)

    rows = rng.integers(0, len(data.X), size=n)
    sd = data.X_train.std(axis=0)
    X = data.X[rows] + rng.normal(0.0, 1.0, size=(n, len(data.numeric))) * (NOISE_SD * sd)
    # Discrete features (binary codes such as sex, heavily tied ones such as diabetes' s4) get
    # no noise: jitter would spread their ties and look like drift to KS where there is none.
    discrete = np.array([len(np.unique(data.X[:, j])) < 0.5 * len(data.X) for j in range(X.shape[1])])
    X[:, discrete] = data.X[rows][:, discrete]
    lower = data.X.min(axis=0)
    X = np.where(lower >= 0, np.maximum(X, 0.0), X)
    categorical = {c: draw_categories(rng, shares, n) for c, shares in data.categorical.items()}

    latency = BASE_LATENCY_MS[data.model] * (1 + 0.04 * (batch_size - 1))
    n_batches = int(batch[-1]) + 1 if n else 0
    latency = latency * rng.lognormal(0.0, LATENCY_SIGMA, size=n_batches)[batch]
    latency = latency * rng.uniform(1.0, 1.1, size=n)  # queueing inside the batch
    error_rate = np.full(n, BASELINE_ERROR_RATE)

    for incident in incidents_for(data.model):
        mask = _incident_mask(incident, arrival, anchor)
        if incident.kind == "drift":
            for feature in incident.shifted_features:
                j = data.numeric.index(feature)
                X[mask, j] += incident.shift_sd * sd[j]
            if incident.site_shares and "site" in categorical:
                categorical["site"][mask] = draw_categories(rng, incident.site_shares, int(mask.sum()))
        else:
            latency[mask] *= incident.latency_factor
            error_rate[mask] = incident.error_rate

    failed = rng.random(n) < error_rate
    gpu_error = rng.random(n) < 0.6
    error = np.where(failed, np.where(gpu_error, ERRORS_GPU, ERRORS_TIMEOUT), None).astype(object)
    latency = np.where(failed & ~gpu_error, TIMEOUT_MS, latency)
    latency = np.round(latency, 2)
    finished = arrival + (latency * 1000).astype(np.int64)
    status = np.where(failed, "error", "ok").astype(object)

    ids = rng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    request_id = np.array([f"{a:016x}{b:016x}" for a, b in ids], dtype=object)
    # A batch runs on one version: the one serving on the day its first request arrived.
    spec_of_day = np.array(
        [version_spec_on_day(data.model, d) for d in range(1, TIMELINE_DAYS + 1)], dtype=object
    )
    first_of_batch = np.searchsorted(batch, batch, side="left")
    version_spec = spec_of_day[np.clip(day[first_of_batch] - 1, 0, TIMELINE_DAYS - 1)]
    label_known = rng.random(n) < LABEL_SHARE
    keep = finished < _us(end)  # a request still running at the anchor is not logged yet
    return Timeline(
        model=data.model,
        start=start,
        end=end,
        arrival_us=arrival[keep],
        finished_us=finished[keep],
        batch=batch[keep],
        batch_size=batch_size[keep],
        day=day[keep],
        request_id=request_id[keep],
        X=X[keep],
        categorical={c: v[keep] for c, v in categorical.items()},
        target=data.y[rows][keep],
        label_known=label_known[keep],
        version_spec=version_spec[keep],
        latency_ms=latency[keep],
        status=status[keep],
        error=error[keep],
    )
