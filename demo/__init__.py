"""The embedded demo: two real models, a 30-day timeline of GPU inference logs, two incidents.

``python -m jobs.demo`` drives it. This module holds only the constants that tests, the README
and the dashboard quote (timeline shape, version rollouts, incidents, bad records), so it
imports nothing heavy.

Timeline: 30 calendar days (UTC). Day 30 is the day of the anchor (the hour the demo was first
built, stored in ``<data>/demo/manifest.json``); day 1 starts at 00:00 UTC 29 days earlier, and
requests run until the anchor. When the anchor is exactly midnight, day 30 is the day before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

TIMELINE_DAYS = 30
SEED = 20261122
REQUESTS_PER_DAY = {"breast-cancer": 1500, "diabetes": 800}
LABEL_SHARE = 0.30
BASELINE_ERROR_RATE = 0.0005
MAX_BATCH_SIZE = 32
BASE_LATENCY_MS = {"breast-cancer": 40.0, "diabetes": 15.0}

# Version rollouts: (first day served, version spec). Specs become registered versions 1, 2, 3
# on a fresh registry; the champion alias points at the spec that serves at the end.
ROLLOUTS: dict[str, tuple[tuple[int, str], ...]] = {
    "breast-cancer": ((1, "v2"), (13, "v3")),
    "diabetes": ((1, "v2"), (16, "v3")),
}
CHAMPION_SPEC = {"breast-cancer": "v3", "diabetes": "v3"}

IncidentKind = Literal["drift", "latency_errors"]


@dataclass(frozen=True)
class Incident:
    """A deliberate problem in the demo timeline. Days are 1-based and inclusive."""

    name: str
    model: str
    kind: IncidentKind
    first_day: int
    last_day: int
    start_hour: int = 0
    end_hour: int = 24  # exclusive, within each day of the incident
    shifted_features: tuple[str, ...] = ()
    shift_sd: float = 0.0  # feature shift in training standard deviations
    site_shares: tuple[tuple[str, float], ...] = ()  # categorical mix while it lasts
    latency_factor: float = 1.0
    error_rate: float = 0.0
    description: str = ""

    def window(self, anchor: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the incident in UTC for a timeline ending at ``anchor``."""
        start, _ = timeline_bounds(anchor)
        if self.start_hour != 0 or self.end_hour != 24:
            if self.first_day != self.last_day:
                raise ValueError("an incident with hours must last one day")
            day = start + timedelta(days=self.first_day - 1)
            return day + timedelta(hours=self.start_hour), day + timedelta(hours=self.end_hour)
        return start + timedelta(days=self.first_day - 1), start + timedelta(days=self.last_day)


BREAST_CANCER_SITES: tuple[tuple[str, float], ...] = (
    ("north-clinic", 0.35),
    ("harbour-hospital", 0.25),
    ("university-medical", 0.20),
    ("riverside-clinic", 0.12),
    ("hillcrest-practice", 0.08),
)
DIABETES_SITES: tuple[tuple[str, float], ...] = (
    ("north-clinic", 0.40),
    ("harbour-hospital", 0.30),
    ("riverside-clinic", 0.20),
    ("hillcrest-practice", 0.10),
)
PATIENT_ZIPS: tuple[str, ...] = (
    "02139",
    "02141",
    "02142",
    "02143",
    "02144",
    "02145",
    "02148",
    "02149",
    "02150",
    "02151",
    "02152",
    "02155",
    "02163",
    "02169",
    "02171",
    "02176",
    "02180",
    "02184",
    "02186",
    "02188",
)

INCIDENTS: tuple[Incident, ...] = (
    Incident(
        name="breast-cancer-drift",
        model="breast-cancer",
        kind="drift",
        first_day=18,
        last_day=21,
        shifted_features=("mean_texture", "worst_texture"),
        shift_sd=1.5,
        site_shares=(
            ("north-clinic", 0.15),
            ("harbour-hospital", 0.15),
            ("university-medical", 0.10),
            ("riverside-clinic", 0.50),
            ("hillcrest-practice", 0.10),
        ),
        description="A new scanner at riverside-clinic: mean_texture and worst_texture read "
        "+1.5 SD higher and riverside-clinic sends half of all requests.",
    ),
    Incident(
        name="diabetes-drift",
        model="diabetes",
        kind="drift",
        first_day=20,
        last_day=23,
        shifted_features=("bmi",),
        shift_sd=1.2,
        description="A referral campaign brings heavier patients: bmi +1.2 SD.",
    ),
    Incident(
        name="breast-cancer-latency-errors",
        model="breast-cancer",
        kind="latency_errors",
        first_day=24,
        last_day=24,
        start_hour=9,
        end_hour=12,
        latency_factor=6.0,
        error_rate=0.15,
        description="A noisy neighbour on the GPU: latency x6 (above the 250 ms SLO threshold) "
        "and 15% of requests fail with CUDA out of memory or upstream timeouts.",
    ),
)

BAD_RECORDS_DAY = 27
BAD_RECORDS_MODEL = "breast-cancer"
# request_id (or a marker) -> what is wrong with the record; ingestion must quarantine each.
BAD_RECORDS: tuple[tuple[str, str], ...] = (
    ("bad-malformed-json", "malformed JSON (line cut off)"),
    ("bad-wrong-type", "latency_ms is a string"),
    ("(no request_id)", "required field request_id is missing"),
    ("bad-unknown-version", "version 99 is not registered"),
)


def anchor_hour(now: datetime | None = None) -> datetime:
    """The current hour in UTC (minutes, seconds and microseconds dropped)."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def timeline_bounds(anchor: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the 30-day timeline that ends at ``anchor`` (see the module docstring)."""
    anchor = anchor.astimezone(UTC)
    last_day = (anchor - timedelta(microseconds=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = last_day - timedelta(days=TIMELINE_DAYS - 1)
    return start, anchor


def incidents_for(model: str) -> tuple[Incident, ...]:
    return tuple(i for i in INCIDENTS if i.model == model)


def incident_windows(anchor: datetime) -> dict[str, tuple[datetime, datetime]]:
    """Incident name -> [start, end) in UTC for a timeline ending at ``anchor``."""
    return {i.name: i.window(anchor) for i in INCIDENTS}


def version_spec_on_day(model: str, day: int) -> str:
    """The version spec serving ``model`` on 1-based ``day`` of the timeline."""
    current = ROLLOUTS[model][0][1]
    for first_day, spec in ROLLOUTS[model]:
        if day >= first_day:
            current = spec
    return current
