"""Lesson 07's planted wrong answers (see jornada.checks.wrong_answers)."""

# the customer's mean amount over ALL their orders: later orders leak into earlier ones
LEAKY_FEATURES = '''
    by_customer = Window.partitionBy("id_pessoa")
    last_24h = (Window.partitionBy("id_pessoa").orderBy(F.unix_timestamp("dt_venda"))
                .rangeBetween(-24 * 3600, -1))
    return orders.select(
        "id_pedido",
        F.count(F.lit(1)).over(last_24h).alias("orders_last_24h"),
        (F.col("valor_total") / F.avg("valor_total").over(by_customer)).alias("amount_vs_usual"))
'''

# "average precision" as the mean precision at every rank, and the top k·days of all days pooled
EVERY_RANK_AP = '''
    order = np.argsort(-np.asarray(score, dtype=float))
    hits = np.asarray(y, dtype=bool)[order]
    precision_at_rank = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    days = len(set(day))
    return {"average_precision": float(precision_at_rank.mean()),
            "precision_at_k": float(hits[:k * days].mean())}
'''

# the (k·days)-th highest score, blind to the tie across the edge: overspends the budget
TIE_BLIND_THRESHOLD = '''
    return float(np.sort(np.asarray(train_scores, dtype=float))[::-1][k * days - 1])
'''

# the comparison alone: NULL for a first order (no usual amount yet)
NULL_ON_FIRST_ORDER = '''
    amount = F.col("valor_total") > 5 * F.col("prev_mean_amount")
    return (flagged.withColumn("rule_amount", amount)
            .withColumn("rule_any", F.col("rule_any") | F.col("rule_amount"))
            .withColumn("reasons", F.when(F.col("rule_amount"), F.concat("reasons", F.array(F.lit("amount"))))
                        .otherwise(F.col("reasons"))))
'''

# Each check run of this lesson starts Spark, so mistakes in different tasks share a notebook:
# a planted task gets its hint, the tasks left blank still say "to do".
CASES = [
    {"name": "leaky-mean-over-the-whole-customer+ap-at-every-rank",
     "plant": {"history_features": LEAKY_FEATURES, "ranking_metrics": EVERY_RANK_AP},
     "expect": {"task_history_features": ["amount_vs_usual LEAKS", "were removed",
                                          "rowsBetween(Window.unboundedPreceding, -1)"],
                "task_ranking_metrics": ["precision at EVERY rank", "ranks of the frauds only"]}},
    {"name": "threshold-blind-to-a-tie+amount-rule-null-on-first-orders",
     "plant": {"budget_threshold": TIE_BLIND_THRESHOLD, "add_amount_rule": NULL_ON_FIRST_ORDER},
     "expect": {"task_budget_threshold": ["scores tie there", "ceiling"],
                "task_amount_rule": ["NULL for orders [2]", "coalesce(…, False)"]}},
]
