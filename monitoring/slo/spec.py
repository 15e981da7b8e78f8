"""SLO specifications: our own YAML, Sloth ``prometheus/v1`` and OpenSLO v1 ratio SLOs.

Everything becomes a list of :class:`SLODefinition`, each with an error query and a total
query templated by ``{{.window}}`` (Sloth's placeholder; OpenSLO's ``$window`` is accepted
too). The error ratio of a window is error / total, both evaluated with that window.

Formats read (``load_slo_file`` detects which):

- **own** (``service:`` + ``preset:`` + ``slos:``, the same SLO entries as ``config/models.yaml``)::

      service: breast-cancer          # the model; its label value in the preset's model label
      preset: fastapi                 # fastapi | triton | vllm
      labels: {}                      # optional extra label matchers
      slos:
        - {name: availability, sli: availability, objective: 0.999, period: 30d}
        - {name: latency-250ms, sli: latency, threshold_ms: 250, objective: 0.99, period: 30d}

- **Sloth** ``version: prometheus/v1``: ``objective`` in percent (99.9); ``sli.events``
  (``error_query`` / ``total_query``) or ``sli.raw.error_ratio_query``. Sloth's period is a CLI
  option, not part of the spec: we use 30d unless the spec carries ``period`` (an extension).
- **OpenSLO** ``apiVersion: openslo/v1`` (one or more YAML documents): ``kind: SLO`` with an
  inline ``indicator`` or an ``indicatorRef`` to a ``kind: SLI`` document in the same file,
  ``ratioMetric`` with ``good`` or ``bad`` and ``total`` Prometheus queries, ``timeWindow``
  duration (28d/30d), ``objectives[0].target`` (0-1) or ``targetPercent``. A query without a
  window placeholder and ``counter: true`` is wrapped as ``sum(increase(<query>[window]))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import InvalidInput
from monitoring.slo import presets
from monitoring.slo.burn import duration_seconds

TEMPLATE = "{{.window}}"


@dataclass(frozen=True)
class SLODefinition:
    service: str
    name: str
    objective: float  # 0-1
    objective_as_written: float | str
    period: str
    error_query: str | None  # template with {{.window}}; None: not measurable here
    total_query: str | None
    ratio_query: str | None = None  # Sloth raw SLI: the error ratio itself
    sli: str = "availability"  # availability | latency | custom
    threshold_ms: float | None = None
    description: str = ""
    source: str = "own"  # own | sloth | openslo | config
    note: str = ""

    def render(self, query: str, window: str) -> str:
        return render(query, window)


def render(template: str, window: str) -> str:
    return (template.replace("{{.window}}", window).replace("{{ .window }}", window)
            .replace("$window", window))


def _period(value: Any, where: str) -> str:
    text = str(value or "30d").strip()
    try:
        duration_seconds(text)
    except ValueError:
        raise InvalidInput(f"{where}: period {value!r} is not a duration like 28d or 30d") from None
    return text


def _objective(value: Any, where: str, *, percent: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: objective {value!r} is not a number") from None
    ratio = number / 100.0 if percent else number
    if not 0 < ratio < 1:
        raise InvalidInput(f"{where}: objective {value!r} is out of range")
    return ratio


def from_config(model: Any, preset_name: str, extra_labels: dict[str, str] | None = None) -> list[SLODefinition]:
    """Definitions for a configured model (``core.config.ModelSpec``) in a preset's naming."""
    entries = [s.model_dump() for s in model.slos]
    return _own(model.name, preset_name, entries, extra_labels or {}, source="config")


def _own(service: str, preset_name: str, entries: list[dict], labels: dict[str, str], *,
         source: str = "own") -> list[SLODefinition]:
    try:
        preset = presets.get(preset_name)
    except KeyError as exc:
        raise InvalidInput(str(exc)) from None
    sel = {**preset.labels_for(service), **labels}
    out = []
    for i, entry in enumerate(entries):
        where = f"slos[{i}]"
        name = str(entry.get("name") or "")
        if not name:
            raise InvalidInput(f"{where}: name is required")
        sli = entry.get("sli", "availability")
        objective = _objective(entry.get("objective"), where, percent=False)
        period = _period(entry.get("period"), where)
        note = ""
        threshold = entry.get("threshold_ms")
        if sli == "availability":
            queries = presets.availability_queries(preset, sel)
        elif sli == "latency":
            if threshold is None:
                raise InvalidInput(f"{where}: a latency SLO needs threshold_ms")
            queries = presets.latency_queries(preset, sel, float(threshold))
        else:
            raise InvalidInput(f"{where}: sli must be availability or latency, got {sli!r}")
        if queries is None:
            note = f"the {preset.name} preset has no {sli} metrics: " + "; ".join(preset.notes)
        out.append(SLODefinition(
            service=service, name=name, objective=objective,
            objective_as_written=entry.get("objective"), period=period,
            error_query=queries[0] if queries else None, total_query=queries[1] if queries else None,
            sli=sli, threshold_ms=float(threshold) if threshold is not None else None,
            description=str(entry.get("description") or ""), source=source, note=note))
    return out


def parse_sloth(doc: dict) -> list[SLODefinition]:
    service = str(doc.get("service") or "")
    if not service:
        raise InvalidInput("sloth spec: 'service' is required")
    period = _period(doc.get("period"), "sloth spec")
    out = []
    for i, slo in enumerate(doc.get("slos") or []):
        where = f"sloth spec: slos[{i}]"
        name = str(slo.get("name") or "")
        sli = slo.get("sli") or {}
        objective = _objective(slo.get("objective"), where, percent=True)
        events = sli.get("events")
        raw = sli.get("raw")
        if events:
            err, tot = events.get("error_query"), events.get("total_query")
            if not err or not tot:
                raise InvalidInput(f"{where}: sli.events needs error_query and total_query")
            out.append(SLODefinition(service, name, objective, slo.get("objective"), period,
                                     str(err).strip(), str(tot).strip(), sli="custom",
                                     description=str(slo.get("description") or ""), source="sloth"))
        elif raw and raw.get("error_ratio_query"):
            out.append(SLODefinition(service, name, objective, slo.get("objective"), period,
                                     None, None, ratio_query=str(raw["error_ratio_query"]).strip(),
                                     sli="custom", description=str(slo.get("description") or ""),
                                     source="sloth"))
        elif sli.get("plugin"):
            raise InvalidInput(f"{where}: Sloth SLI plugins are not supported; use events or raw")
        else:
            raise InvalidInput(f"{where}: sli needs events or raw")
    if not out:
        raise InvalidInput("sloth spec: no slos")
    return out


def _openslo_query(metric: dict | None, window_counter: bool) -> str | None:
    if not metric:
        return None
    source = metric.get("metricSource") or {}
    spec = source.get("spec") or {}
    query = spec.get("query") or spec.get("promql")
    if not query:
        return None
    query = str(query).strip()
    if "{{.window}}" in query or "$window" in query or "{{ .window }}" in query:
        return query
    if window_counter:
        return f"sum(increase(({query})[{TEMPLATE}:]))" if "(" in query else f"sum(increase({query}[{TEMPLATE}]))"
    return f"sum({query})"


def parse_openslo(docs: list[dict]) -> list[SLODefinition]:
    slis = {d.get("metadata", {}).get("name"): d for d in docs if d.get("kind") == "SLI"}
    out = []
    for doc in docs:
        if doc.get("kind") != "SLO":
            continue
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        name = str(meta.get("name") or "")
        where = f"openslo SLO {name!r}"
        indicator = spec.get("indicator")
        if indicator is None and spec.get("indicatorRef"):
            indicator = slis.get(spec["indicatorRef"])
            if indicator is None:
                raise InvalidInput(f"{where}: indicatorRef {spec['indicatorRef']!r} not found in the file")
        if indicator is None:
            raise InvalidInput(f"{where}: needs indicator or indicatorRef")
        ratio = (indicator.get("spec") or {}).get("ratioMetric")
        if not ratio:
            raise InvalidInput(f"{where}: only ratioMetric SLIs are supported")
        counter = bool(ratio.get("counter", False))
        total = _openslo_query(ratio.get("total"), counter)
        good = _openslo_query(ratio.get("good"), counter)
        bad = _openslo_query(ratio.get("bad"), counter)
        if total is None or (good is None and bad is None):
            raise InvalidInput(f"{where}: ratioMetric needs total and good or bad Prometheus queries")
        error = bad if bad is not None else f"clamp_min(({total}) - ({good}), 0)"
        windows = spec.get("timeWindow") or [{}]
        period = _period(windows[0].get("duration"), where)
        objectives = spec.get("objectives") or []
        if not objectives:
            raise InvalidInput(f"{where}: objectives are required")
        first = objectives[0]
        if "target" in first:
            objective, written = _objective(first["target"], where, percent=False), first["target"]
        elif "targetPercent" in first:
            objective, written = _objective(first["targetPercent"], where, percent=True), first["targetPercent"]
        else:
            raise InvalidInput(f"{where}: objectives[0] needs target or targetPercent")
        out.append(SLODefinition(str(spec.get("service") or ""), name, objective, written, period,
                                 error, total, sli="custom",
                                 description=str(spec.get("description") or ""), source="openslo"))
    if not out:
        raise InvalidInput("openslo file: no kind: SLO documents")
    return out


def parse_documents(docs: list[Any]) -> list[SLODefinition]:
    docs = [d for d in docs if d]
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise InvalidInput("SLO file: expected YAML mappings")
    first = docs[0]
    if str(first.get("version", "")).startswith("prometheus/v1"):
        return [s for d in docs for s in parse_sloth(d)]
    if str(first.get("apiVersion", "")).startswith("openslo/"):
        return parse_openslo(docs)
    if "slos" in first and "service" in first:
        return [s for d in docs for s in _own(str(d["service"]), str(d.get("preset") or "fastapi"),
                                             list(d.get("slos") or []), dict(d.get("labels") or {}))]
    raise InvalidInput("SLO file: not a Sloth prometheus/v1, OpenSLO v1 or Vigil SLO spec")


def load_slo_file(path: str | Path) -> list[SLODefinition]:
    path = Path(path)
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: SLO file not found") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_documents(docs)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from None
