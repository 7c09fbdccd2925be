"""Lesson 07 (fraud detection): what the lesson recorded, checked against what it left on the store
— the model's manifest, the Delta table of the scorer's decisions (re-read here with delta-rs, no
Spark) — and against what the ground truth makes true by construction.

The recorded values come from the session-wide course run (fixture ``records``); the lesson's
objects stay under s3a://gold|checkpoints|models/lesson07/ until its next run. Timings are
recorded, never asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jornada import s3 as storage
from jornada.lake import delta_tools

pytestmark = pytest.mark.notebooks

LESSON = "07_fraud_detection"
ALERTS = "s3a://gold/lesson07/fraude_alertas"
MODEL_PREFIX = "lesson07/fraud"
DETECTORS = {"location_rule", "device_rule", "rules_combined", "model", "model_rules", "sklearn_model_rules"}
LIBRARY_FEATURES = ["habitual_device", "device_differs", "n_prev_orders", "prev_mean_amount",
                    "seconds_since_prev", "distance_home_km", "uf", "hour", "valor_total"]


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


@pytest.fixture(scope="module")
def manifest(lesson):
    version = storage.get_bytes("models", f"{MODEL_PREFIX}/CURRENT").decode().strip()
    return json.loads(storage.get_bytes("models", f"{MODEL_PREFIX}/{version}/manifest.json"))


@pytest.fixture(scope="module")
def decisions():
    return delta_tools.delta_table(ALERTS).to_pandas()


def test_each_rule_misses_the_kind_it_was_not_written_for(lesson):
    by_type, c = lesson["frauds_by_type"], lesson["confusion"]
    assert set(by_type) == {"localizacao", "dispositivo", "conta_invadida"} and all(by_type.values())
    assert sum(by_type.values()) == lesson["frauds"]
    for row in c.values():
        assert row["true_pos"] + row["false_pos"] + row["false_neg"] + row["true_neg"] == lesson["orders"]
        assert row["true_pos"] + row["false_neg"] == lesson["frauds"]
        assert row["missed_conta_invadida"] == by_type["conta_invadida"]   # neither rule sees a takeover
    assert c["location"]["missed_localizacao"] == 0
    assert c["location"]["missed_dispositivo"] == by_type["dispositivo"]
    assert c["device"]["missed_dispositivo"] == 0
    assert c["device"]["missed_localizacao"] == by_type["localizacao"]
    combined = c["rules combined"]
    assert combined["false_neg"] == by_type["conta_invadida"]
    # travellers and new phones: honest orders flagged by each rule, and by either
    assert c["location"]["false_pos"] > 0 and c["device"]["false_pos"] > 0
    assert combined["false_pos"] >= max(c["location"]["false_pos"], c["device"]["false_pos"])


def test_no_library_feature_changes_on_a_truncated_history(lesson):
    leak = lesson["leak_check"]
    assert leak["orders_compared"] == lesson["train_info"]["train_rows"]   # the orders before the cut-off
    assert {f: leak["changed"][f] for f in LIBRARY_FEATURES} == {f: 0 for f in LIBRARY_FEATURES}
    # the leaky mean over all of a customer's orders moves for most of them
    assert leak["changed"]["customer_mean_amount"] > leak["orders_compared"] / 2
    assert lesson["features_rows"] == lesson["orders"]


def test_the_split_is_by_time_with_a_gap(lesson, manifest):
    split, info = lesson["split"], lesson["train_info"]
    window = manifest["training_window"]
    assert (window["cutoff"], window["eval_start"], window["eval_end"]) == \
        (split["cutoff"], split["eval_start"], split["eval_end"])
    assert window["labels_confirmed_before"] == window["cutoff"] and window["gap_days"] == 7
    assert info["train_rows"] + info["eval_rows"] < lesson["orders"]          # the gap is left out
    assert lesson["labels_after_cutoff"] > 0      # frauds of the training weeks confirmed too late
    assert manifest["info"] == info


def test_the_metrics_table_rules_and_model_on_the_same_weeks(lesson, manifest):
    m = lesson["metrics"]
    assert set(m) == DETECTORS
    ap = {d: row["average_precision"] for d, row in m.items()}
    # what the lesson says: the rules together beat each rule, the model with the rule flags beats
    # the rules and the same model without them
    assert ap["rules_combined"] > max(ap["location_rule"], ap["device_rule"])
    assert ap["model_rules"] > ap["rules_combined"] and ap["model_rules"] > ap["model"]
    for d in ("location_rule", "device_rule", "rules_combined"):
        assert m[d]["threshold"] == 0.5                       # a rule's score is 0 or 1
    frauds_rate = lesson["train_info"]["eval_frauds"] / lesson["train_info"]["eval_rows"]
    assert all(0 <= row["precision_at_k"] <= 1 and row["roc_auc"] > 0.5 and row["average_precision"] > frauds_rate
               for row in m.values())
    # the manifest on the store holds the same table and the budget's threshold
    assert manifest["budget_k_per_day"] == lesson["k"]
    assert manifest["threshold"] == lesson["threshold"] == m["model_rules"]["threshold"]
    assert {d: row["average_precision"] for d, row in manifest["metrics"].items()} == pytest.approx(ap)


def test_the_threshold_keeps_the_budget_on_the_training_weeks(lesson):
    budgets = {int(b): row for b, row in lesson["budgets"].items()}
    assert sorted(budgets) == [1, 2, 5, 10]
    for b, row in budgets.items():
        assert row["alerts/day in training"] <= b
    thresholds = [budgets[b]["threshold"] for b in sorted(budgets)]
    recalls = [budgets[b]["recall"] for b in sorted(budgets)]
    assert thresholds == sorted(thresholds, reverse=True) and recalls == sorted(recalls)
    assert budgets[lesson["k"]]["threshold"] == lesson["threshold"]


def test_every_streamed_order_is_scored_once_by_the_current_model(lesson, manifest, decisions):
    stream = lesson["stream"]
    ids = set(stream["ids"])
    assert len(ids) == stream["orders"] == stream["scored"]
    mine = decisions[decisions["id_pedido"].isin(ids)]
    assert set(mine["id_pedido"]) == ids and mine["id_pedido"].is_unique
    assert len(decisions) == len(ids)          # a fresh table each run: nothing of an earlier one
    assert set(mine["model_version"]) == {manifest["version"]} == set(stream["versions"])
    assert (mine["alert"] == (mine["score"] >= manifest["threshold"])).all()
    assert int(mine["alert"].sum()) == stream["alerts"]
    assert all(("model" in r) == a for r, a in zip(mine["reasons"], mine["alert"]) if "location" not in r
               and "device" not in r)


def test_a_new_customer_gets_no_device_signal(lesson, decisions):
    stream = lesson["stream"]
    assert stream["new_customers"] > 0 and stream["new_with_device_reason"] == 0
    new = decisions[decisions["habitual_device"].isna()]
    assert len(new) >= stream["new_customers"]
    assert not any("device" in r for r in new["reasons"])


def test_the_alerts_map_was_saved_and_photographed(lesson, course_run):
    outcomes = lesson["map_outcomes"]
    assert sum(outcomes.values()) == lesson["map_orders"] == lesson["train_info"]["eval_rows"] + lesson["stream"]["orders"]
    assert outcomes["caught (TP)"] > 0 and outcomes["false alarm (FP)"] > 0
    saved = [m for m in course_run[f"notebooks/{LESSON}"]["maps"] if Path(m["html"]).name == "07_alerts_map.html"]
    assert saved and Path(saved[0]["html"]).stat().st_size > 10_000
    assert saved[0]["png"], saved[0]["note"]

