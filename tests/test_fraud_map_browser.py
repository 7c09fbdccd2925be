"""The fraud-alerts map in headless Chromium (offline): caught, false alarms and missed frauds in
their colours, by the numbers, with popups showing score, reasons and model version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jornada import browser, fraud, maps
from test_maps_browser import (  # noqa: F401  (ready: the fixture, shared)
    OUT, STATE_JS, _click_a_marker, _expected, _png_size, generated_orders, ready)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def alerts():
    """A generated shop scored like the scorer does: rules + a noisy score, alert above 0.5."""
    orders, labels = generated_orders(500, 5_000, seed=3, fraud_rate=0.03, max_days=60)
    loc = fraud.location_flags(orders).to_numpy()
    dev = fraud.device_flags(orders, "habitual").to_numpy()
    rng = np.random.default_rng(3)
    score = np.clip(0.55 * loc + 0.3 * dev + rng.normal(0.1, 0.12, len(orders)), 0, 1)
    reasons = [[r for r, f in (("location", a), ("device", b), ("model", s >= 0.5)) if f]
               for a, b, s in zip(loc, dev, score)]
    table = orders.assign(score=score, alert=score >= 0.5, reasons=reasons, model_version="20260101-test",
                          uf=None)
    return table, labels


@pytest.fixture(scope="module")
def saved(ready, alerts):  # noqa: F811
    table, labels = alerts
    m = maps.alerts_map(table, labels, max_points=2_000, seed=1, title="fraud alerts vs confirmed frauds")
    path = maps.save_map(m, OUT / "test_fraud_alerts.html", offline=True)
    assert path.offline and not path.remote
    return path, _expected(m)


@pytest.fixture(scope="module")
def op(ready):  # noqa: F811
    with browser.offline_page() as page:
        yield page


def test_alerts_map_counts_caught_false_alarms_and_missed(alerts, saved, op):
    table, labels = alerts
    path, expected = saved
    op.open(path)
    state = op.page.evaluate(STATE_JS)
    op.page.screenshot(path=str(OUT / "test_fraud_alerts.png"))
    truth = table["id_pedido"].isin(labels["id_pedido"])
    alert = table["alert"]
    want = {"tp": int((alert & truth).sum()), "fp": int((alert & ~truth).sum()),
            "fn": int((~alert & truth).sum())}
    assert min(want.values()) > 0
    assert op.errors == [] and state["states"] == 27
    legend = {r["label"]: r["count"] for r in state["rows"]}
    for key, n in want.items():
        assert len(expected[key]["ids"]) == n                      # every TP, FP and FN is drawn
        assert legend[expected[key]["label"]] == n
        drawn = state["layers"][key]
        assert drawn["count"] == drawn["shown"] == drawn["inClusters"] + drawn["dots"] == n
    assert state["covered"] == []
    assert _png_size(OUT / "test_fraud_alerts.png") == browser.VIEWPORT


@pytest.mark.parametrize("key", ["tp", "fp", "fn"])
def test_alert_popup_shows_score_reasons_and_model_version(key, alerts, saved, op):
    table = alerts[0].set_index("id_pedido")
    path, expected = saved
    op.open(path)
    order, popup, _ = _click_a_marker(op.page, key)
    rows = dict(popup["rows"])
    assert {"order", "customer", "score", "reasons", "model version"} <= set(rows)
    row = table.loc[int(order)]
    assert rows["customer"] == str(row["id_pessoa"]) and rows["model version"] == "20260101-test"
    assert float(rows["score"]) == pytest.approx(round(float(row["score"]), 3))
    assert rows["reasons"] == (", ".join(row["reasons"]) or "none")
    assert popup["title"].strip() == expected[key]["label"]
    assert isinstance(pd.Timestamp(rows["date"]), pd.Timestamp)
