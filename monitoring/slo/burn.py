"""Error budgets and multiwindow, multi-burn-rate alerts: pure arithmetic, no I/O, no clock.

Definitions (Google SRE workbook, chapter 5 "Alerting on SLOs"):

- error ratio of a window = bad events / all events in that window (``None`` without traffic);
- burn rate = error ratio / (1 - objective): 1.0 spends exactly the budget over the period;
- remaining budget = 1 - (error ratio over the whole period) / (1 - objective); it goes
  negative once the budget is overspent;
- an alert whose long window is ``W`` fires when a fraction ``b`` of the period's budget would
  be consumed within ``W``: burn-rate factor = ``b * period / W``.

For a 30-day period the workbook's table follows from the budget fractions::

    page   : 2 % of budget in 1 h  -> 0.02 * 720 h / 1 h  = 14.4  (short window 5 m)
    page   : 5 % of budget in 6 h  -> 0.05 * 720 h / 6 h  =  6    (short window 30 m)
    ticket : 10 % of budget in 1 d -> 0.10 * 30 d / 1 d   =  3    (short window 2 h)
    ticket : 10 % of budget in 3 d -> 0.10 * 30 d / 3 d   =  1    (short window 6 h)

For a 28-day period the same budget fractions give factors scaled by 28/30: 13.44, 5.6, 2.8
and 0.9333. We derive them from the budget fractions rather than keeping the 30-day numbers,
so an alert always means "this share of the budget is gone", whatever the period.

An alert fires when *both* its long and its short window burn above the factor (the short
window makes the alert reset quickly once the problem stops), and only when the long window
saw at least ``min_requests`` requests (a handful of failures at 3 a.m. is not a page). Any
missing input (``None``: no traffic, no data) means "no alert", never a guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PERIODS: tuple[str, ...] = ("28d", "30d")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def duration_seconds(text: str) -> int:
    """``"5m"`` -> 300; accepts the Prometheus units s, m, h, d, w (one term)."""
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 5m, 1h, 30d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return value


def error_ratio(errors: float | None, total: float | None) -> float | None:
    """Bad / all events, or ``None`` when there were no events (never NaN, never 0 or 100 %)."""
    errors, total = _clean(errors), _clean(total)
    if total is None or total <= 0:
        return None
    if errors is None:
        errors = 0.0  # traffic but no error series: nothing failed
    return min(max(errors / total, 0.0), 1.0)


def clean_ratio(value: float | None) -> float | None:
    """A ratio that Prometheus computed itself (NaN when 0/0) as a float or ``None``."""
    value = _clean(value)
    if value is None:
        return None
    return min(max(value, 0.0), 1.0)


def budget(objective: float) -> float:
    if not 0 < objective < 1:
        raise ValueError(f"objective must be between 0 and 1 (exclusive), got {objective}")
    return 1.0 - objective


def burn_rate(ratio: float | None, objective: float) -> float | None:
    """Error ratio / error budget; ``None`` stays ``None``."""
    ratio = _clean(ratio)
    if ratio is None:
        return None
    return ratio / budget(objective)


def budget_remaining(period_ratio: float | None, objective: float) -> float | None:
    """1 - period error ratio / budget (1.0 = untouched, 0 = spent, < 0 = overspent)."""
    ratio = _clean(period_ratio)
    if ratio is None:
        return None
    return 1.0 - ratio / budget(objective)


def burn_factor(budget_fraction: float, window: str, period: str) -> float:
    """Burn-rate threshold that consumes ``budget_fraction`` of the period's budget in ``window``."""
    return budget_fraction * duration_seconds(period) / duration_seconds(window)


@dataclass(frozen=True)
class AlertRule:
    severity: str  # "page" | "ticket"
    long_window: str
    short_window: str
    budget_fraction: float

    def factor(self, period: str) -> float:
        return burn_factor(self.budget_fraction, self.long_window, period)


# The workbook's recommended multiwindow, multi-burn-rate alerts.
ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("page", "1h", "5m", 0.02),
    AlertRule("page", "6h", "30m", 0.05),
    AlertRule("ticket", "1d", "2h", 0.10),
    AlertRule("ticket", "3d", "6h", 0.10),
)


def alert_factors(period: str) -> dict[tuple[str, str], float]:
    """``{(long, short): factor}`` for the period, e.g. ``{("1h","5m"): 14.4, ...}`` for 30d."""
    return {(r.long_window, r.short_window): r.factor(period) for r in ALERT_RULES}


@dataclass(frozen=True)
class RuleOutcome:
    """The decision of one multiwindow alert rule: what the SLO page shows, never recomputed there.

    ``burning``: both windows burn above ``factor``; ``firing``: burning and enough requests in
    the long window; ``held``: burning but held back by ``min_requests``.
    """

    severity: str
    long_window: str
    short_window: str
    budget_fraction: float
    factor: float
    long_burn: float | None
    short_burn: float | None
    burning: bool
    firing: bool
    held: bool

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "long_window": self.long_window, "short_window": self.short_window,
                "budget_fraction": self.budget_fraction, "factor": self.factor, "long_burn": self.long_burn,
                "short_burn": self.short_burn, "burning": self.burning, "firing": self.firing, "held": self.held}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleOutcome:
        return cls(str(data["severity"]), str(data["long_window"]), str(data["short_window"]),
                   float(data["budget_fraction"]), float(data["factor"]), _clean(data.get("long_burn")),
                   _clean(data.get("short_burn")), bool(data["burning"]), bool(data["firing"]),
                   bool(data["held"]))


@dataclass(frozen=True)
class AlertState:
    page: bool
    ticket: bool
    reasons: tuple[str, ...] = ()
    guarded: tuple[str, ...] = ()  # rules that burned but lacked min_requests
    rules: tuple[RuleOutcome, ...] = ()  # one decision per rule of ALERT_RULES, in that order

    def as_dict(self) -> dict[str, bool]:
        return {"page": self.page, "ticket": self.ticket}


def evaluate_alerts(burn: Mapping[str, float | None], period: str, *,
                    requests: Mapping[str, float | None] | None = None,
                    min_requests: float = 0) -> AlertState:
    """Apply :data:`ALERT_RULES` to burn rates per window.

    ``requests`` gives the request count per window; a rule fires only when its long window
    saw at least ``min_requests`` (when ``min_requests`` > 0 and the count is unknown, it does
    not fire). Every rule's decision is kept in ``AlertState.rules``.
    """
    fired = {"page": False, "ticket": False}
    reasons: list[str] = []
    guarded: list[str] = []
    outcomes: list[RuleOutcome] = []
    for rule in ALERT_RULES:
        factor = rule.factor(period)
        long_burn = _clean(burn.get(rule.long_window))
        short_burn = _clean(burn.get(rule.short_window))
        burning = (long_burn is not None and short_burn is not None
                   and long_burn > factor and short_burn > factor)
        firing = held = False
        if burning:
            label = (f"{rule.severity}: burn {long_burn:.2f} over {rule.long_window} and "
                     f"{short_burn:.2f} over {rule.short_window} > {factor:.4g}")
            count = _clean((requests or {}).get(rule.long_window))
            if min_requests > 0 and (count is None or count < min_requests):
                held = True
                guarded.append(f"{label} (only {0 if count is None else int(count)} requests, "
                               f"need {int(min_requests)})")
            else:
                firing = True
                fired[rule.severity] = True
                reasons.append(label)
        outcomes.append(RuleOutcome(rule.severity, rule.long_window, rule.short_window, rule.budget_fraction,
                                    factor, long_burn, short_burn, burning, firing, held))
    return AlertState(fired["page"], fired["ticket"], tuple(reasons), tuple(guarded), tuple(outcomes))


def apdex(satisfied: float | None, tolerating: float | None, total: float | None) -> float | None:
    """Apdex = (satisfied + tolerating / 2) / total; errors belong in ``total`` only (frustrated)."""
    satisfied, tolerating, total = _clean(satisfied), _clean(tolerating), _clean(total)
    if total is None or total <= 0 or satisfied is None:
        return None
    return min(max((satisfied + (tolerating or 0.0) / 2.0) / total, 0.0), 1.0)


@dataclass(frozen=True)
class SLOResult:
    """One SLO evaluated at one instant: the jobs.slo JSON contract plus details."""

    service: str
    name: str
    objective: float | str
    period: str
    error_ratio: dict[str, float | None]
    burn_rate: dict[str, float | None]
    error_budget_remaining: float | None
    alerts: AlertState
    requests: dict[str, float | None]
    sli: str = "availability"
    at: str = ""

    def contract(self) -> dict:
        return {
            "service": self.service,
            "name": self.name,
            "objective": self.objective,
            "period": self.period,
            "error_ratio": dict(self.error_ratio),
            "burn_rate": dict(self.burn_rate),
            "error_budget_remaining": self.error_budget_remaining,
            "alerts": self.alerts.as_dict(),
        }


def summarise(service: str, name: str, objective_as_written: float | str, objective: float,
              period: str, ratios: Mapping[str, float | None],
              requests: Mapping[str, float | None] | None = None, *, min_requests: float = 0,
              sli: str = "availability", at: str = "") -> SLOResult:
    """Turn error ratios per window (the 7 alert windows plus the period) into an SLOResult."""
    windows = list(WINDOWS) + ([period] if period not in WINDOWS else [])
    err = {w: clean_ratio(ratios.get(w)) for w in windows}
    burns = {w: burn_rate(err[w], objective) for w in windows}
    reqs = {w: _clean((requests or {}).get(w)) for w in windows}
    state = evaluate_alerts(burns, period, requests=reqs, min_requests=min_requests)
    return SLOResult(service, name, objective_as_written, period, err, burns,
                     budget_remaining(err[period], objective), state, reqs, sli, at)
