"""Checks of lesson 07 (fraud detection). Each task is judged on small planted data built here, in
memory — orders, labels and scores whose right answers are known — never on the learner's shop.

- task_history_features: ``history_features(orders)`` — per order, the customer's earlier orders
  in the 24 h before it and the amount against the mean of the customer's earlier orders. Judged
  twice: on all the planted orders and on the same history truncated at a date; an order before
  that date must get the same values both times (a feature that reads later orders changes).
- task_ranking_metrics: ``ranking_metrics(day, y, score, k)`` — average precision and
  precision@k per day by hand, against :mod:`jornada.fraud_metrics` on planted scores.
- task_budget_threshold: ``budget_threshold(train_scores, days, k)`` — the threshold that fires
  about k alerts a day on the training window (a tie planted at the budget's edge).
- task_amount_rule: ``add_amount_rule(flagged)`` — a third rule with its reason code ``amount``
  over the output of :func:`jornada.lake.rules.rule_flags` (first orders planted among them).

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from . import TaskFailed, call, expect, passed

RESULTS: dict[str, dict] = {}

CHECK_SCRATCH: tuple[str, ...] = ()
CHECK_DATA = (
    "`jornada check 07` reads and writes none of your data: every task is judged on small planted "
    "orders, labels and scores built in memory (Spark DataFrames and arrays); the OLTP, Kafka and the "
    "object store are not touched")
SEED = 7


# ---- task 1: features from the past only -------------------------------------------------------
T0 = datetime(2026, 1, 5, 8, 0, 0)
TRUNCATE_AT = datetime(2026, 1, 7, 0, 0, 0)
# (id_pedido, id_pessoa, hours after T0, valor_total): customer 1 buys in a burst, customer 2
# slowly, customer 3 once; several orders after TRUNCATE_AT move any feature that reads ahead.
PLANTED_ORDERS = [
    (1, 1, 0.0, 100.0), (2, 1, 2.0, 50.0), (3, 1, 20.0, 30.0), (4, 1, 23.5, 900.0),
    (5, 1, 47.0, 60.0), (6, 1, 50.0, 2000.0), (7, 1, 51.0, 10.0),
    (8, 2, 1.0, 80.0), (9, 2, 30.0, 120.0), (10, 2, 60.0, 40.0), (11, 2, 90.0, 400.0),
    (12, 3, 10.0, 55.0),
]


def _orders_frame() -> pd.DataFrame:
    return pd.DataFrame({"id_pedido": [o[0] for o in PLANTED_ORDERS],
                         "id_pessoa": [o[1] for o in PLANTED_ORDERS],
                         "dt_venda": [T0 + timedelta(hours=o[2]) for o in PLANTED_ORDERS],
                         "valor_total": [o[3] for o in PLANTED_ORDERS]})


def expected_history(orders: pd.DataFrame) -> pd.DataFrame:
    """The two features the slow, obvious way: look back from each order at the earlier ones."""
    rows = []
    for r in orders.itertuples():
        mine = orders[(orders["id_pessoa"] == r.id_pessoa)
                      & ((orders["dt_venda"] < r.dt_venda)
                         | ((orders["dt_venda"] == r.dt_venda) & (orders["id_pedido"] < r.id_pedido)))]
        recent = mine[mine["dt_venda"] >= r.dt_venda - timedelta(hours=24)]
        rows.append({"id_pedido": r.id_pedido, "orders_last_24h": len(recent),
                     "amount_vs_usual": (r.valor_total / mine["valor_total"].mean()) if len(mine) else None})
    return pd.DataFrame(rows).set_index("id_pedido").sort_index()


def _history_answer(fn, spark, orders: pd.DataFrame) -> pd.DataFrame:
    sdf = spark.createDataFrame(orders)
    got = call(fn, sdf)
    if not hasattr(got, "toPandas"):
        raise TaskFailed(f"history_features() must return a Spark DataFrame, got {type(got).__name__}")
    missing = {"id_pedido", "orders_last_24h", "amount_vs_usual"} - set(got.columns)
    expect(not missing, f"the result has no column(s) {sorted(missing)}: return id_pedido, orders_last_24h "
                        "and amount_vs_usual")
    out = got.select("id_pedido", "orders_last_24h", "amount_vs_usual").toPandas()
    expect(out["id_pedido"].is_unique and len(out) == len(orders),
           f"{len(out)} rows for {len(orders)} orders: one row per order (a window keeps every row; "
           "a groupBy does not)")
    return out.set_index("id_pedido").sort_index()


def _same_value(a, b) -> bool:
    a_none = a is None or (isinstance(a, float) and math.isnan(a))
    b_none = b is None or (isinstance(b, float) and math.isnan(b))
    if a_none or b_none:
        return a_none and b_none
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _differing(got: pd.DataFrame, want: pd.DataFrame, column: str) -> list[int]:
    return [int(i) for i in want.index if not _same_value(got.at[i, column], want.at[i, column])]


def task_history_features(fn, spark) -> None:
    """fn(orders) -> DataFrame(id_pedido, orders_last_24h, amount_vs_usual), from earlier orders only."""
    orders = _orders_frame()
    full = _history_answer(fn, spark, orders)
    early = orders[orders["dt_venda"] < TRUNCATE_AT]
    truncated = _history_answer(fn, spark, early)
    for column in ("orders_last_24h", "amount_vs_usual"):
        moved = _differing(full.loc[early["id_pedido"]], truncated, column)
        if moved:
            raise TaskFailed(
                f"{column} LEAKS: orders {moved} got other values when the orders after "
                f"{TRUNCATE_AT:%Y-%m-%d} were removed, so it reads the future (later orders of the "
                "customer). A window over the whole customer, or a frame that reaches past the current "
                "row, does that: order the window by time and stop before the current row — "
                "rowsBetween(Window.unboundedPreceding, -1), rangeBetween(-86400, -1) over the sale "
                "time in seconds")
    want = expected_history(orders)
    counts = _differing(full, want, "orders_last_24h")
    if counts:
        if all(full.at[i, "orders_last_24h"] == want.at[i, "orders_last_24h"] + 1 for i in counts):
            raise TaskFailed(f"orders_last_24h counts the order itself (orders {counts}): count the "
                             "customer's EARLIER orders in the 24 h before — the frame ends at -1")
        raise TaskFailed(f"orders_last_24h is wrong for orders {counts}: e.g. order {counts[0]} should "
                         f"count {want.at[counts[0], 'orders_last_24h']} earlier order(s) of its customer in "
                         f"the 24 hours before it, you have {full.at[counts[0], 'orders_last_24h']}")
    ratios = _differing(full, want, "amount_vs_usual")
    if ratios:
        i = ratios[0]
        raise TaskFailed(f"amount_vs_usual is wrong for orders {ratios}: e.g. order {i} should be "
                         f"{want.at[i, 'amount_vs_usual']!r} — its amount over the mean amount of the "
                         f"customer's earlier orders (null for a first order), you have "
                         f"{full.at[i, 'amount_vs_usual']!r}")
    RESULTS["history_features"] = {"orders": len(orders), "compared_after_truncation": len(early)}
    passed("history_features", f"{len(early)} orders keep their values on a history truncated at "
                               f"{TRUNCATE_AT:%Y-%m-%d}; both features right for all {len(orders)}")


# ---- task 2: average precision and precision@k by hand -------------------------------------------
def planted_scores(days: int = 6, per_day: int = 25, seed: int = SEED) -> pd.DataFrame:
    """Scores of a detector over ``days`` days: frauds score higher on average, distinct scores,
    days with different numbers of frauds (so per-day and pooled precision differ)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        frauds = [3, 1, 0, 5, 2, 1][d % 6]
        y = np.zeros(per_day, dtype=bool)
        y[rng.choice(per_day, frauds, replace=False)] = True
        score = np.where(y, rng.beta(4, 2, per_day), rng.beta(2, 5, per_day))
        for yi, si in zip(y, score):
            rows.append({"day": (T0 + timedelta(days=d)).date(), "y": bool(yi), "score": float(si)})
    df = pd.DataFrame(rows)
    df["score"] = df["score"].round(6) + np.arange(len(df)) * 1e-9   # no ties: one answer only
    return df


def _judge(value: float, want: float, classic: float, classic_hint: str, hint: str) -> None:
    """TaskFailed unless ``value`` is ``want``; the classic mistake (it gives ``classic``) gets its
    own hint. Hints are formatted with v (the learner's value) and w (the right one)."""
    if not math.isclose(value, want, rel_tol=1e-6):
        text = classic_hint if math.isclose(value, classic, rel_tol=1e-6) else hint
        raise TaskFailed(text.format(v=value, w=want))


def task_ranking_metrics(fn) -> None:
    """fn(day, y, score, k) -> {"average_precision": float, "precision_at_k": float}."""
    from .. import fraud_metrics

    df, k = planted_scores(), 3
    got = call(fn, df["day"].to_numpy(), df["y"].to_numpy(), df["score"].to_numpy(), k)
    expect(isinstance(got, dict) and {"average_precision", "precision_at_k"} <= set(got),
           f"ranking_metrics() must return {{'average_precision': …, 'precision_at_k': …}}, got {got!r}")
    ap = fraud_metrics.average_precision(df["y"], df["score"])
    at_k = fraud_metrics.precision_at_k_per_day(df["day"], df["y"], df["score"], k)["precision_at_k"]
    order = np.argsort(-df["score"].to_numpy())
    hits = df["y"].to_numpy()[order]
    every_rank = float(np.mean(np.cumsum(hits) / np.arange(1, len(hits) + 1)))
    pooled = float(hits[:k * df["day"].nunique()].mean())
    _judge(float(got["average_precision"]), ap, every_rank,
           "average_precision {v:.4f} averages the precision at EVERY rank; AP averages it at the ranks "
           "of the frauds only (each fraud found adds 1/frauds of recall): sum over the frauds of "
           "precision@their rank, / frauds",
           "average_precision is {v:.4f}, expected {w:.4f}: sort by score descending; at the rank of "
           "each fraud take precision = frauds so far / rank; average those over all the frauds")
    _judge(float(got["precision_at_k"]), at_k, pooled,
           "precision_at_k {v:.4f} takes the top k·days orders of ALL days together; the team "
           "investigates k a DAY: for each day its own top k, precision = frauds among them / k, then "
           "the mean over the days",
           "precision_at_k is {v:.4f}, expected {w:.4f}: per day, the k highest scores; frauds among "
           "them / k; then average the days (a day without fraud counts, with precision 0)")
    RESULTS["ranking_metrics"] = {"average_precision": round(ap, 4), "precision_at_k": round(at_k, 4)}
    passed("ranking_metrics", f"AP {ap:.4f}, precision@{k} per day {at_k:.4f} — as jornada.fraud_metrics")


# ---- task 3: a threshold from the budget ---------------------------------------------------------
def planted_training_scores(days: int = 10, per_day: int = 40, seed: int = SEED) -> np.ndarray:
    """Training scores with a tie planted across the budget's edge for k = 3."""
    rng = np.random.default_rng(seed + 1)
    s = np.round(rng.beta(2, 6, days * per_day), 4)
    top = np.sort(s)[::-1]
    edge = top[3 * days - 1]
    s[np.argsort(-s, kind="stable")[3 * days - 2: 3 * days + 1]] = edge  # ranks 29..31 tie
    return s


def task_budget_threshold(fn) -> None:
    """fn(train_scores, days, k) -> threshold: score ≥ threshold fires at most k·days alerts."""
    from .. import fraud_metrics

    days, k = 10, 3
    scores = planted_training_scores(days)
    got = call(fn, scores.copy(), days, k)
    try:
        threshold = float(got)
    except (TypeError, ValueError):
        raise TaskFailed(f"budget_threshold() must return a number, got {got!r}") from None
    want = fraud_metrics.threshold_for_budget(scores, days, k)
    fired = int((scores >= threshold).sum())
    if fired <= k:
        raise TaskFailed(f"your threshold {threshold:.4f} fires {fired} alerts over the {days} training "
                         f"days: that is k in total, not k a DAY — the budget is k·days = {k * days}")
    if fired > k * days:
        if threshold == np.sort(scores)[::-1][k * days - 1]:
            raise TaskFailed(f"your threshold {threshold:.4f} is the {k * days}th highest score, but "
                             f"scores tie there: score ≥ it fires {fired} alerts, over the budget of "
                             f"{k * days}. The budget is a ceiling — move just above the tie "
                             "(np.nextafter(edge, inf), or the next distinct score up)")
        raise TaskFailed(f"your threshold {threshold:.4f} fires {fired} alerts over {days} days, more "
                         f"than k·days = {k * days}")
    expect(fired == int((scores >= want).sum()),
           f"your threshold {threshold:.4f} fires {fired} alerts; the budget allows "
           f"{int((scores >= want).sum())} (the highest count ≤ {k * days} that no tie splits): take "
           "the (k·days)-th highest score, raised just above it when the next score ties it")
    RESULTS["budget_threshold"] = {"threshold": threshold, "alerts": fired, "budget": k * days}
    passed("budget_threshold", f"{fired} alerts over {days} days (budget {k * days}; a tie kept it under)")


# ---- task 4: a new reason code --------------------------------------------------------------------
AMOUNT_FACTOR = 5.0
# (id_pedido, valor_total, prev_mean_amount, n_prev_orders, rule_location, rule_device, reasons)
PLANTED_FLAGS = [
    (1, 900.0, 100.0, 4, False, False, []),                     # amount: 9× the usual
    (2, 900.0, None, 0, False, False, []),                      # a first order: no usual amount
    (3, 400.0, 100.0, 3, False, False, []),                     # 4×: not enough
    (4, 600.0, 100.0, 2, True, False, ["location"]),            # amount + location
    (5, 50.0, 100.0, 6, False, True, ["device"]),
    (6, 5000.0, 1000.0, 1, False, True, ["device"]),            # exactly 5×: not above
    (7, 520.0, 100.0, 1, True, True, ["location", "device"]),   # all three
    (8, 30.0, 20.0, 9, False, False, []),
]


def _expected_amount(row) -> bool:
    _, valor, mean, n_prev, *_ = row
    return bool(n_prev and mean is not None and valor > AMOUNT_FACTOR * mean)


def task_amount_rule(fn, spark) -> None:
    """fn(flagged) -> flagged + rule_amount; rule_any and reasons updated ("amount" appended)."""
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("id_pedido", T.LongType()), T.StructField("valor_total", T.DoubleType()),
                           T.StructField("prev_mean_amount", T.DoubleType()),
                           T.StructField("n_prev_orders", T.LongType()),
                           T.StructField("rule_location", T.BooleanType()),
                           T.StructField("rule_device", T.BooleanType()),
                           T.StructField("reasons", T.ArrayType(T.StringType()))])
    df = spark.createDataFrame(PLANTED_FLAGS, schema)
    df = df.withColumn("rule_any", df["rule_location"] | df["rule_device"])
    got = call(fn, df)
    if not hasattr(got, "toPandas"):
        raise TaskFailed(f"add_amount_rule() must return a Spark DataFrame, got {type(got).__name__}")
    expect("rule_amount" in got.columns, f"no column rule_amount in {got.columns}: add it (withColumn)")
    rows = {r["id_pedido"]: r for r in got.collect()}
    expect(set(rows) == {r[0] for r in PLANTED_FLAGS}, "add_amount_rule() must keep every order, one row each")
    nulls = [i for i, r in rows.items() if r["rule_amount"] is None]
    if nulls:
        raise TaskFailed(f"rule_amount is NULL for orders {nulls} (a first order has no usual amount, so "
                         "the comparison is null): a rule answers True or False — coalesce(…, False)")
    wrong = [row[0] for row in PLANTED_FLAGS if rows[row[0]]["rule_amount"] != _expected_amount(row)]
    if wrong:
        raise TaskFailed(f"rule_amount is wrong for orders {wrong}: it fires when the customer has earlier "
                         f"orders and the amount is above {AMOUNT_FACTOR:g}× their mean amount "
                         "(valor_total > 5 * prev_mean_amount; exactly 5× does not fire)")
    stale = [i for i, r in rows.items() if r["rule_any"] != (r["rule_location"] or r["rule_device"] or r["rule_amount"])]
    if stale:
        raise TaskFailed(f"rule_any is not updated for orders {stale}: an order is flagged when ANY rule "
                         "fires, the new one included")
    for row in PLANTED_FLAGS:
        want = list(row[6]) + (["amount"] if _expected_amount(row) else [])
        have = list(rows[row[0]]["reasons"] or [])
        if have != want:
            raise TaskFailed(f"order {row[0]}: reasons {have}, expected {want} — keep the reasons that were "
                             "there and append the code 'amount' when the rule fires (array_union or "
                             "concat with F.array(F.lit('amount')), only when rule_amount)")
    fired = sum(_expected_amount(r) for r in PLANTED_FLAGS)
    RESULTS["amount_rule"] = {"fired": fired, "orders": len(PLANTED_FLAGS)}
    passed("amount_rule", f"'amount' fires on {fired} of {len(PLANTED_FLAGS)} planted orders, first orders "
                          "never, rule_any and reasons updated")
