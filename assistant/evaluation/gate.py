"""Thresholds: the minimum (or maximum) each metric may reach before the gate fails."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def load_thresholds(path: Path, set_name: str | None = None) -> dict[str, dict[str, float]] | None:
    """`[minimum]` and `[maximum]` tables of metric name -> bound. A file may hold one
    pair for every set, or one per set, named by the set's file stem
    (`[golden.minimum]`, `["user-questions".maximum]`); None when it has none for `set_name`."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    if "minimum" not in data and "maximum" not in data:
        per_set = data.get(set_name or "")
        if not isinstance(per_set, dict):
            return None
        data = per_set
    return {
        "minimum": {str(k): float(v) for k, v in data.get("minimum", {}).items()},
        "maximum": {str(k): float(v) for k, v in data.get("maximum", {}).items()},
    }


def within(value: Any, minimum: float | None = None, maximum: float | None = None) -> bool:
    """Whether a metric's value meets its bounds: the one comparison the gate, the
    terminal and the HTML report share. A missing or non-numeric value (NaN included)
    never does."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        return False
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def check(metrics: dict[str, Any], thresholds: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Every metric on the wrong side of its bound (a missing metric fails too)."""
    failed = []
    for kind, bounds in (
        ("minimum", thresholds.get("minimum", {})),
        ("maximum", thresholds.get("maximum", {})),
    ):
        for name, bound in bounds.items():
            value = metrics.get(name)
            if not within(value, **{kind: bound}):
                failed.append({"metric": name, "value": value, kind: bound})
    return failed


def describe(failed: list[dict[str, Any]]) -> list[str]:
    """One line per failure, for the terminal."""
    lines = []
    for failure in failed:
        if "minimum" in failure:
            lines.append(
                f"{failure['metric']} = {failure['value']} is below the minimum {failure['minimum']}"
            )
        else:
            lines.append(
                f"{failure['metric']} = {failure['value']} is above the maximum {failure['maximum']}"
            )
    return lines
