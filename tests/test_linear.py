"""Fitted logistic models as data: fitting, probabilities, contributions, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.linear import LinearModel, fit_logistic, load_model


def test_a_fitted_model_separates_what_it_was_fitted_on_and_survives_a_file(tmp_path: Path) -> None:
    rows = [{"score": x / 10, "noise": (x * 7) % 3} for x in range(20)]
    labels = [int(row["score"] > 1.0) for row in rows]
    model = fit_logistic(rows, labels, ("score", "noise"))
    assert model.probability({"score": 1.9, "noise": 1}) > 0.8
    assert model.probability({"score": 0.1, "noise": 1}) < 0.2
    contributions = model.contributions({"score": 1.9, "noise": 1})
    assert contributions["score"] > abs(contributions["noise"])
    model.save(tmp_path / "m.json")
    assert LinearModel.from_json(__import__("json").loads((tmp_path / "m.json").read_text())) == model


def test_sample_weights_change_the_fit() -> None:
    rows = [{"x": 0.0}, {"x": 1.0}, {"x": 1.0}, {"x": 2.0}]
    labels = [0, 0, 1, 1]
    plain = fit_logistic(rows, labels, ("x",))
    leaning = fit_logistic(rows, labels, ("x",), sample_weights=[1, 5, 0.2, 1])
    assert leaning.probability({"x": 1.0}) < plain.probability({"x": 1.0})


@pytest.mark.parametrize("name", ["sentence_scorer", "answerability"])
def test_shipped_models_name_their_features_and_how_they_were_fitted(name: str) -> None:
    model = load_model(name)
    assert len(model.features) == len(model.weights) == len(model.means) == len(model.scales)
    assert any(weight != 0 for weight in model.weights)
    assert model.fitted["command"] == "assistant eval --calibrate"
    cross_validated = model.fitted["cross_validated"]
    assert 0 < cross_validated["answers.evidence_in_answer"] <= 1
    assert 0 <= cross_validated["refusals.false_refusal_rate"] <= 1
