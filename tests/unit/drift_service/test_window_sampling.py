"""The prediction columns of a window stay bounded: beyond the cap a uniform sample is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.drift import window_stats


def test_prediction_sample_is_bounded_and_uniform(models_config, monkeypatch):
    monkeypatch.setattr(window_stats, "PREDICTION_SAMPLE_CAP", 1_000)
    spec = models_config.get("diabetes")
    acc = window_stats.WindowAccumulator(spec=spec, charts={}, ranges={})
    rng = np.random.default_rng(1)
    for start in range(0, 20_000, 2_000):
        frame = pd.DataFrame(
            {f.name: rng.normal(size=2_000) if f.type == "numeric" else "north" for f in spec.features}
        )
        frame["prediction"] = np.arange(start, start + 2_000).astype(str)
        frame["status"] = "ok"
        acc.add(frame)
    kept = window_stats.prediction_frame(acc.predictions)
    assert acc.rows == 20_000 and len(kept) <= 1_000 and acc.prediction_rate < 0.1
    values = kept["prediction"].astype(int)
    assert values.min() < 4_000 and values.max() > 16_000  # early and late rows both kept
    assert 6_000 < values.mean() < 14_000
