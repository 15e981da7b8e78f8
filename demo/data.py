"""The demo's data sets: scikit-learn's bundled breast-cancer and diabetes sets (no network).

Columns are named as in ``config/models.yaml`` (spaces become underscores). Each set gets a
synthetic ``site`` column (clinic, fixed shares) and breast-cancer a ``patient_zip`` column
(PII), drawn with a fixed seed so the reference data is the same on every build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from demo import BREAST_CANCER_SITES, DIABETES_SITES, PATIENT_ZIPS, SEED

TEST_SHARE = 0.25
SPLIT_SEED = 42


@dataclass(frozen=True)
class DemoDataset:
    """Numeric features, target and the train/test split of one demo model."""

    model: str
    numeric: tuple[str, ...]
    categorical: dict[str, tuple[tuple[str, float], ...]]  # column -> (value, share)
    X: np.ndarray  # float64, rows x numeric
    y: np.ndarray  # breast-cancer: 1 = malignant; diabetes: progression
    train_idx: np.ndarray
    test_idx: np.ndarray
    task: str

    @property
    def record_digits(self) -> np.ndarray:
        """Decimal places the inference logs keep for each numeric column."""
        return record_digits_of(self.X)

    @property
    def X_train(self) -> np.ndarray:
        return self.X[self.train_idx]

    @property
    def y_train(self) -> np.ndarray:
        return self.y[self.train_idx]

    @property
    def X_test(self) -> np.ndarray:
        return self.X[self.test_idx]

    @property
    def y_test(self) -> np.ndarray:
        return self.y[self.test_idx]

    def reference_frame(self) -> pd.DataFrame:
        """Training features plus the synthetic categorical columns: the drift reference."""
        frame = pd.DataFrame(self.X_train, columns=list(self.numeric))
        rng = np.random.default_rng(SEED + 1)
        for column, shares in self.categorical.items():
            frame[column] = draw_categories(rng, shares, len(frame))
        return frame


def feature_name(raw: str) -> str:
    return raw.replace(" ", "_")


def zip_shares() -> tuple[tuple[str, float], ...]:
    """Postcodes with Zipf-like shares (the first is the most common)."""
    weights = np.array([1.0 / (rank + 1) ** 0.8 for rank in range(len(PATIENT_ZIPS))])
    weights /= weights.sum()
    return tuple((z, float(w)) for z, w in zip(PATIENT_ZIPS, weights, strict=True))


def draw_categories(rng: np.random.Generator, shares: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    values = np.array([v for v, _ in shares], dtype=object)
    p = np.array([s for _, s in shares], dtype=float)
    return values[rng.choice(len(values), size=n, p=p / p.sum())]


def _split(n: int, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    train, test = train_test_split(idx, test_size=TEST_SHARE, random_state=SPLIT_SEED, stratify=y)
    return np.sort(train), np.sort(test)


def breast_cancer() -> DemoDataset:
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    X = _as_recorded(np.asarray(raw.data, dtype=np.float64))
    y = (1 - np.asarray(raw.target)).astype(np.float64)  # sklearn: 0 = malignant
    train, test = _split(len(X), y)
    return DemoDataset(
        model="breast-cancer",
        numeric=tuple(feature_name(n) for n in raw.feature_names),
        categorical={"site": BREAST_CANCER_SITES, "patient_zip": zip_shares()},
        X=X,
        y=y,
        train_idx=train,
        test_idx=test,
        task="classification",
    )


def record_digits_of(X: np.ndarray) -> np.ndarray:
    """Decimal places that keep about 6 significant digits of each column (by its largest value)."""
    scale = np.nanmax(np.abs(X), axis=0) if len(X) else np.ones(X.shape[1])
    return np.clip(5 - np.floor(np.log10(np.where(scale > 0, scale, 1.0))), 0, 12).astype(int)


def round_like_records(X: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Round each column to ``digits`` decimal places, as the inference logs record values."""
    out = np.empty_like(X)
    for j, d in enumerate(digits):
        out[:, j] = np.round(X[:, j], int(d))
    return out


def _as_recorded(X: np.ndarray) -> np.ndarray:
    """The data set as the logs record it (6 significant digits). Training data, reference
    profiles and logs then hold identical values, so tied values (binary codes such as
    diabetes' sex) match exactly and no drift is seen where there is none."""
    return round_like_records(X, record_digits_of(X))


def diabetes() -> DemoDataset:
    from sklearn.datasets import load_diabetes

    raw = load_diabetes()
    X = _as_recorded(np.asarray(raw.data, dtype=np.float64))
    y = np.asarray(raw.target, dtype=np.float64)
    train, test = _split(len(X), None)
    return DemoDataset(
        model="diabetes",
        numeric=tuple(feature_name(n) for n in raw.feature_names),
        categorical={"site": DIABETES_SITES},
        X=X,
        y=y,
        train_idx=train,
        test_idx=test,
        task="regression",
    )


DATASETS = {"breast-cancer": breast_cancer, "diabetes": diabetes}


def load(model: str) -> DemoDataset:
    try:
        return DATASETS[model]()
    except KeyError:
        from core.errors import NotFound

        raise NotFound(
            f"the demo has no data set for model {model!r} (known: {', '.join(DATASETS)})"
        ) from None
