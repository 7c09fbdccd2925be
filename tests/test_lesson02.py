"""Lesson 02 (generating data): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Speeds are measured, never asserted beyond "> 0".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jornada import maps

pytestmark = pytest.mark.notebooks

LESSON = "02_generating_data"
SOLUTION = f"solutions/{LESSON}"


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_history_has_about_one_percent_fraud(lesson):
    assert lesson["history_orders"] >= 10_000
    assert 0.005 <= lesson["history_fraud_rate"] <= 0.02


def test_stream_has_about_five_percent_fraud_and_new_customers(lesson):
    assert lesson["stream_orders"] >= 600
    assert 0.03 <= lesson["stream_fraud_rate"] <= 0.08
    assert lesson["stream_new_customers"] > 0


def test_generation_is_deterministic(lesson):
    assert lesson["deterministic"] is True


def test_original_sex_heuristic_is_often_wrong(lesson):
    assert 0.10 <= lesson["sex_heuristic_error"] <= 0.30


@pytest.mark.parametrize("rule", ["location", "device_habitual"])
def test_rules_match_the_labels(lesson, rule):
    assert lesson[f"{rule}_precision"] >= 0.95
    assert lesson[f"{rule}_recall"] >= 0.95


def test_naive_variants_are_worse(lesson):
    assert lesson["device_previous_precision"] < lesson["device_habitual_precision"]
    assert lesson["device_never_seen_recall"] < lesson["device_habitual_recall"]
    assert lesson["location_legit_cells_precision"] < 0.5  # the original's cells flag honest customers


def test_speeds_were_measured(lesson):
    # measured live: only sanity, never a speed threshold
    assert lesson["copy_orders_per_s"] > 0 and lesson["row_by_row_orders_per_s"] > 0
    assert lesson["speedup"] > 0


def test_map_was_saved_with_legit_and_fraud_markers(lesson):
    path = Path(lesson["map_path"])
    assert path.name == "02_orders_map.html" and path.parent.name == "maps"
    assert path.exists(), f"{path} was not written"
    html = path.read_text()
    assert maps.LEGIT_COLOR in html and maps.FRAUD_COLOR in html
    assert '"legit (' in html and '"fraud (' in html  # both marker layers
    assert maps.LEGEND_CLASS in html and '"uf": "SP"' in html


def test_solution_passes_every_task(records):
    rec = records.get(SOLUTION)
    assert rec, f"{SOLUTION}.ipynb recorded nothing (did it fail? see test_notebooks)"
    assert rec["checks_passed"] == ["device_rule", "fingerprint", "fraud_rate_by_type", "location_rule"]
