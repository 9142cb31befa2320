"""Fitted logistic models stored as data: named features, weights, and how they were fitted.

Sentence choice and answerability are decided by small logistic regressions whose
parameters are JSON files in `assistant/models/`, written by `assistant eval --calibrate`
together with the cross-validated numbers they reached. Nothing here is tuned by hand:
change a feature, refit, and read the new numbers in the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).parent / "models"


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression over standardised named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    threshold: float = 0.5  # decision threshold on the probability
    fitted: dict[str, Any] = field(default_factory=dict)  # how, on what, cross-validated numbers

    def logit(self, values: Mapping[str, float]) -> float:
        total = self.bias
        for name, weight, mean, scale in zip(
            self.features, self.weights, self.means, self.scales, strict=True
        ):
            total += weight * (float(values.get(name, 0.0)) - mean) / scale
        return total

    def probability(self, values: Mapping[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, self.logit(values)))))

    def contributions(self, values: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the logit: what the report shows staff."""
        return {
            name: round(weight * (float(values.get(name, 0.0)) - mean) / scale, 3)
            for name, weight, mean, scale in zip(
                self.features, self.weights, self.means, self.scales, strict=True
            )
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            means=tuple(float(m) for m in data["means"]),
            scales=tuple(float(s) for s in data["scales"]),
            threshold=float(data.get("threshold", 0.5)),
            fitted=dict(data.get("fitted", {})),
        )


@cache
def load_model(name: str) -> LinearModel:
    """A shipped model by name (`sentence_scorer`, `answerability`)."""
    path = MODELS_DIR / f"{name}.json"
    return LinearModel.from_json(json.loads(path.read_text(encoding="utf-8")))


def fit_logistic(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[int],
    features: tuple[str, ...],
    regularisation: float = 1.0,
    balanced: bool = False,
    sample_weights: Sequence[float] | None = None,
) -> LinearModel:
    """Fit a logistic regression (scikit-learn) on standardised features."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    matrix = np.array([[float(row.get(name, 0.0)) for name in features] for row in rows])
    means = matrix.mean(axis=0)
    scales = matrix.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(C=regularisation, class_weight="balanced" if balanced else None, max_iter=2000)
    model.fit((matrix - means) / scales, np.array(labels), sample_weight=sample_weights)
    return LinearModel(
        features=features,
        weights=tuple(round(float(w), 6) for w in model.coef_[0]),
        bias=round(float(model.intercept_[0]), 6),
        means=tuple(round(float(m), 6) for m in means),
        scales=tuple(round(float(s), 6) for s in scales),
    )
