"""Lesson 02 (generating data): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Speeds are measured, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jornada import maps
from jornada.generators import DEFAULT_TRUTH

pytestmark = pytest.mark.notebooks

LESSON = "02_generating_data"


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_history_has_about_one_percent_fraud(lesson):
    assert lesson["history_orders"] >= 10_000
    assert 0.005 <= lesson["history_fraud_rate"] <= 0.02
    by_type = lesson["history_frauds_by_type"]
    total = sum(by_type.values())
    assert total == round(lesson["history_fraud_rate"] * lesson["history_orders"])
    assert by_type["localizacao"] / total == pytest.approx(DEFAULT_TRUTH.location, abs=0.1)
    assert by_type["dispositivo"] / total == pytest.approx(DEFAULT_TRUTH.device, abs=0.1)
    assert by_type["conta_invadida"] / total == pytest.approx(DEFAULT_TRUTH.takeover, abs=0.08)


def test_the_ground_truth_table_shows_each_kind_by_its_defining_property(lesson):
    kinds = lesson["ground_truth"]
    assert set(kinds) == {"honest", "honest, travelling", "honest, new phone", "localizacao",
                          "dispositivo", "conta_invadida"}
    assert kinds["honest"]["away_from_home_state"] == 0 and kinds["honest"]["own_device"] == 1
    assert kinds["honest, travelling"]["away_from_home_state"] == 1
    assert kinds["honest, travelling"]["own_device"] == 1
    assert kinds["honest, new phone"]["own_device"] == 1
    assert kinds["localizacao"]["away_from_home_state"] == 1 and kinds["localizacao"]["own_device"] == 1
    assert kinds["dispositivo"]["own_device"] == 0 and kinds["dispositivo"]["away_from_home_state"] == 0
    tk = kinds["conta_invadida"]
    assert tk["own_device"] == 1 and tk["away_from_home_state"] == 0
    assert tk["median_total"] > 4 * kinds["honest"]["median_total"]
    assert tk["at_night"] > 0.9
    assert kinds["honest"]["at_night"] < 0.1
    for kind in ("localizacao", "dispositivo", "conta_invadida"):   # labels arrive days later
        assert 2 <= kinds[kind]["days_to_label"] <= 40


def test_stream_has_about_five_percent_fraud_and_new_customers(lesson):
    assert lesson["stream_orders"] >= 600
    assert 0.03 <= lesson["stream_fraud_rate"] <= 0.08
    assert lesson["stream_new_customers"] > 0


def test_generation_is_deterministic(lesson):
    first = lesson["fingerprint_first"]
    assert len(first) == 32 and int(first, 16)                  # an md5 of the whole shop
    assert lesson["fingerprint_again"] == first
    assert lesson["fingerprint_other_seed"] != first


def test_original_sex_heuristic_is_often_wrong(lesson):
    assert 0.10 <= lesson["sex_heuristic_error"] <= 0.30


@pytest.mark.parametrize("rule", ["location", "device_habitual"])
def test_rules_catch_their_own_kind_and_over_flag(lesson, rule):
    assert lesson[f"{rule}_recall"] == 1.0
    assert 0.2 < lesson[f"{rule}_precision"] < 0.8      # travellers / phone changers: false alarms
    assert lesson[f"{rule}_recall_any"] < 0.6           # the other kinds slip past it


def test_rules_together_miss_the_account_takeovers(lesson):
    c = lesson["confusion"]
    both, labels = c["rules_combined"], lesson["labels_by_type"]
    assert sum(both[k] for k in ("true_pos", "false_pos", "false_neg", "true_neg")) == lesson["orders_scored"]
    assert both["true_pos"] + both["false_neg"] == sum(labels.values())
    assert both["missed_localizacao"] == both["missed_dispositivo"] == 0
    assert labels["conta_invadida"] >= 20
    assert both["missed_conta_invadida"] >= 0.9 * labels["conta_invadida"]
    assert both["false_neg"] == both["missed_conta_invadida"]
    assert both["false_pos"] >= max(c["location"]["false_pos"], c["device_habitual"]["false_pos"])


def test_naive_variants_are_worse(lesson):
    assert lesson["device_previous_recall"] < lesson["device_habitual_recall"]
    assert lesson["device_never_seen_recall"] < lesson["device_habitual_recall"]
    assert lesson["location_legit_cells_precision"] < 0.5  # the original's cells flag honest customers


def test_benchmark_orders_were_removed_again(lesson):
    # the speeds themselves are measurements (make bench), not asserted; what the lesson did with
    # the data is: every benchmark order was deleted, so the shop holds history + stream only
    assert lesson["benchmark_orders"] == 300 + 5_000          # the notebook's parameters
    assert lesson["benchmark_orders_deleted"] == lesson["benchmark_orders"]


def test_map_was_saved_with_legit_and_fraud_markers(lesson):
    path = Path(lesson["map_path"])
    assert path.name == "02_orders_map.html" and path.parent.name == "maps"
    assert path.exists(), f"{path} was not written"
    html = path.read_text()
    assert maps.LEGIT_COLOR in html and maps.FRAUD_COLOR in html
    assert '"legit (' in html and '"fraud (' in html  # both marker layers
    assert maps.LEGEND_CLASS in html and '"uf": "SP"' in html

