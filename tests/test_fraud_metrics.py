"""The fraud metrics on examples small enough to compute by hand (and scikit-learn beside them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jornada import fraud_metrics as m

pytestmark = pytest.mark.unit


def test_average_precision_by_hand():
    # ranks 1 and 3 are frauds: P@1 = 1, P@3 = 2/3; each adds half the recall
    assert m.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3)
    # tied scores enter together: at 0.5 precision 1/2 for recall 1/2, then 2/3 for the rest
    assert m.average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(0.25 + 0.5 * 2 / 3)
    assert m.average_precision([1, 1, 0], [3, 2, 1]) == 1.0
    assert math.isnan(m.average_precision([0, 0], [0.1, 0.2]))


def test_roc_auc_by_hand():
    # pairs (fraud, legit): 0.9>0.8, 0.9>0.1, 0.7<0.8, 0.7>0.1 → 3 of 4
    assert m.roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == 0.75
    assert m.roc_auc([1, 0], [0.5, 0.5]) == 0.5
    assert math.isnan(m.roc_auc([1, 1], [0.5, 0.4]))


def test_agrees_with_scikit_learn_on_random_scores():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.05
    s = np.round(rng.random(2000) + y * 0.3, 2)     # rounding makes ties
    assert m.average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert m.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_precision_and_recall_at_k_per_day_by_hand():
    day = ["d1", "d1", "d1", "d2", "d2"]
    y = [1, 0, 0, 0, 1]
    s = [0.2, 0.9, 0.1, 0.5, 0.4]
    two = m.precision_at_k_per_day(day, y, s, 2)
    # d1: 0.9 (legit), 0.2 (fraud) → 1/2; d2: both orders → 1/2
    assert (two["precision_at_k"], two["recall_at_k"]) == (0.5, 1.0)
    assert (two["days"], two["investigated"], two["caught"], two["frauds"]) == (2, 4, 2, 2)
    one = m.precision_at_k_per_day(day, y, s, 1)
    assert (one["precision_at_k"], one["recall_at_k"]) == (0.0, 0.0)
    assert one["daily"]["investigated"].tolist() == [1, 1]


def test_card_precision_counts_customers_not_orders():
    # day 1: customer A's two orders (max score 0.9, one of them a fraud) make one card
    got = m.precision_at_k_per_day(["d1"] * 3, [1, 0, 0], [0.2, 0.9, 0.1], 1,
                                   entity=["A", "A", "B"])
    assert (got["precision_at_k"], got["recall_at_k"], got["frauds"]) == (1.0, 1.0, 1)
    orders = m.precision_at_k_per_day(["d1"] * 3, [1, 0, 0], [0.2, 0.9, 0.1], 1)
    assert orders["precision_at_k"] == 0.0


def test_ties_are_broken_by_the_given_order():
    # a rule's flags are a binary score: the earliest order of the tie is investigated first
    got = m.precision_at_k_per_day(["d"] * 3, [0, 1, 0], [1, 1, 1], 1, order=[3, 1, 2])
    assert got["precision_at_k"] == 1.0
    got = m.precision_at_k_per_day(["d"] * 3, [0, 1, 0], [1, 1, 1], 1, order=[1, 3, 2])
    assert got["precision_at_k"] == 0.0


def test_threshold_for_budget_never_overspends():
    s = [0.9, 0.8, 0.8, 0.5, 0.1]
    assert m.threshold_for_budget(s, days=1, k=1) == 0.9
    assert m.threshold_for_budget(s, days=1, k=3) == 0.8      # three alerts: 0.9, 0.8, 0.8
    two = m.threshold_for_budget(s, days=1, k=2)              # the 0.8 tie would make three
    assert 0.8 < two <= 0.9 and sum(x >= two for x in s) == 1
    assert m.threshold_for_budget(s, days=10, k=1) == 0.1     # budget above the orders: all
    with pytest.raises(ValueError, match="at least 1"):
        m.threshold_for_budget(s, days=0, k=1)


def test_alert_metrics_and_summary_by_hand():
    day, y, s = [1, 1, 2, 2], [1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6]
    got = m.alert_metrics(day, y, s, 0.5)                      # alerts: 0.9 (fraud), 0.6 (legit)
    assert got == {"alerts": 2, "alerts_per_day": 1.0, "precision": 0.5, "recall": 0.5}
    row = m.summary(day, y, s, k=1, threshold=0.5)
    assert row["precision_at_k"] == 0.5 and row["recall_at_k"] == 0.5
    assert row["precision_at_threshold"] == 0.5 and row["alerts_per_day"] == 1.0
    assert row["roc_auc"] == 0.75


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="equal length"):
        m.average_precision([1, 0], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        m.roc_auc([1, 0], [0.5, float("nan")])
    with pytest.raises(ValueError, match="k must be"):
        m.precision_at_k_per_day(["d"], [1], [0.5], 0)
