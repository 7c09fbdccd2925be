"""Fraud at scale: Spark's features + rules against the library's pandas rules on the same orders,
the model's training time, and its average precision against the best rule on held-out weeks.

The orders come from the pure generators (no database): ``n`` orders over 180 days. The two
engines see the same orders in the same run; the flags are compared (they must agree) and both
timings reported. Real-time latency (OLTP commit → alert on the topic) is measured by
tests/test_fraud_stream.py's recorded properties, not here.

Run: .venv/bin/python benchmarks/bench_fraud.py [n]   (prints JSON)
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))  # works before install too

NOW = datetime(2026, 1, 31, 12, 0, 0)
DRIVER_MEMORY = "6g"   # measured: 1 M orders fail with java.lang.OutOfMemoryError at 1 GB


def _tables(n: int, seed: int) -> dict:
    from jornada import generators as g

    customers = g.generate_customers(max(200, n // 20), seed=seed, now=NOW)
    h = g.generate_history(customers, g.catalogue_products(), n, seed=seed, now=NOW,
                           fraud_rate=0.01, max_days=180)
    pedidos = h["pedidos"].assign(valor_total=h["pedidos"]["valor_total_cents"] / 100)
    enderecos = customers.rename(columns={"id": "id_pessoa"})[["id_pessoa", "uf", "geohash"]]
    return {"pedidos": pedidos[["id", "id_pessoa", "dt_venda", "valor_total"]],
            "itens_pedidos": h["itens_pedidos"][["id_pedido", "id_produto", "qtde"]],
            "auditoria_pedidos": h["auditoria_pedidos"][["id_pedido", "dispositivo", "geohash"]],
            "enderecos": enderecos, "fraudes_confirmadas": h["fraudes_confirmadas"]}


def run(n: int = 1_000_000, seed: int = 42, k: int = 20) -> dict:
    from jornada import fraud
    from jornada.lake import model
    from jornada.lake.features import order_features, with_labels
    from jornada.lake.rules import rule_flags
    from jornada.lake.spark import spark_session

    t = _tables(n, seed)
    orders = t["pedidos"].rename(columns={"id": "id_pedido"}).merge(t["auditoria_pedidos"],
                                                                     on="id_pedido")
    t0 = time.perf_counter()
    loc, dev = fraud.location_flags(orders), fraud.device_flags(orders, "habitual")
    pandas_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    # 1 M orders go through the driver (pandas → Spark and back): the lessons' 1 GB runs out of heap
    spark = spark_session("bench-fraud", conf={"spark.sql.execution.arrow.pyspark.enabled": "true",
                                               "spark.driver.memory": DRIVER_MEMORY})
    start_s = time.perf_counter() - t0
    try:
        frames = {name: spark.createDataFrame(df) for name, df in t.items()}
        t0 = time.perf_counter()
        flags = rule_flags(order_features(frames["pedidos"], frames["itens_pedidos"],
                                          frames["auditoria_pedidos"], frames["enderecos"])).cache()
        got = flags.select("id_pedido", "rule_location", "rule_device").toPandas()
        spark_s = time.perf_counter() - t0
        got = got.set_index("id_pedido").sort_index()
        mismatches = int((got["rule_location"] != loc.reindex(got.index)).sum()
                         + (got["rule_device"] != dev.reindex(got.index)).sum())
        cutoff = NOW - timedelta(days=60)
        labelled = with_labels(flags, frames["fraudes_confirmadas"]).cache()
        t0 = time.perf_counter()
        result = model.train(labelled, cutoff, k=k)
        train_s = time.perf_counter() - t0
        # gradient-boosted trees beside the default linear model (lesson 07: which wins depends on
        # how many frauds there are to learn from)
        t0 = time.perf_counter()
        trees = model.train(labelled, cutoff, k=k, classifier="gbt", baseline=False)
        trees = {"train_and_evaluate_s": round(time.perf_counter() - t0, 1),
                 "model_rules_ap": round(float(trees.table.loc["model_rules", "average_precision"]), 4)}
    finally:
        spark.stop()
    table = result.table
    rules = table.loc[["location_rule", "device_rule", "rules_combined"], "average_precision"]
    return {"orders": n, "pandas_rules_s": round(pandas_s, 2),
            "spark_features_and_rules_s": round(spark_s, 2), "spark_start_s": round(start_s, 1),
            "flag_mismatches": mismatches, "train_and_evaluate_s": round(train_s, 1),
            "k_per_day": k, "best_rule": rules.idxmax(), "best_rule_ap": round(float(rules.max()), 4),
            "model_rules_ap": round(float(table.loc["model_rules", "average_precision"]), 4),
            "gradient_boosted_trees": trees,
            "table": json.loads(table.round(4).to_json(orient="index")), **result.info}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2))
