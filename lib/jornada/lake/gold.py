"""Gold: the tables people query, built from silver.

    >>> from jornada.lake import gold
    >>> gold.build(spark)        # every gold table, rebuilt from silver

``s3a://gold/revenue_by_category_month`` — revenue by product category × month, the lake's
twin of the warehouse mart ``marts.receita_categoria_mes`` (same numbers for the same data; the
test across the two engines checks it):

================  =============  ===============================================================
``month``         string         ``yyyy-MM`` of the order's ``dt_venda``
``category``      string         ``categorias.descricao``
``orders``        bigint         distinct orders with an item of the category
``items``         bigint         order items
``quantity``      bigint         sum of ``qtde``
``revenue``       decimal(20,2)  sum of the items' ``valor_total``
``fraud_revenue`` decimal(20,2)  the part of it in orders with a confirmed fraud
================  =============  ===============================================================

``s3a://gold/order_features`` — one row per order with the fraud features of
:func:`jornada.lake.features.order_features` (its docstring defines each column: ``id_pedido``,
``id_pessoa``, ``dt_venda``, ``valor_total``, ``n_items``, ``units``, ``hour``, ``geohash``, ``uf``
— the library's geo in a pandas UDF —, ``home_uf``, ``home_geohash``, ``distance_home_km``,
``dispositivo``, ``habitual_device`` as of the order, ``device_differs``, ``seconds_since_prev``,
``n_prev_orders``, ``prev_mean_amount``), computed from silver's ``pedidos``,
``itens_pedidos``, ``auditoria_pedidos`` and ``enderecos``. No labels: training joins
``fraudes_confirmadas`` apart (``features.with_labels``), so nothing scored reads the answer.

Both are built in full each time (``overwrite``), not incrementally from silver's change
feed: a month's revenue moves with any late item, deleted order or chargeback of that month, and
an order's history features move with every earlier order of its customer (a late or deleted
one), so an incremental build must recompute everything a change touches. At course scale
(thousands to a million items) a full rebuild takes seconds to minutes and cannot drift. Silver's
Change Data Feed (``readChangeFeed``, ``startingVersion``) is what an incremental build reads.
"""

from __future__ import annotations

import time

from ..config import Settings, settings as load_settings
from .silver import table_path as silver_path

BUCKET = "gold"
REVENUE = "revenue_by_category_month"
FEATURES = "order_features"
REVENUE_COLUMNS = ["month", "category", "orders", "items", "quantity", "revenue", "fraud_revenue"]


def table_path(table: str) -> str:
    return f"s3a://{BUCKET}/{table}"


def silver_table(spark, table: str):
    return spark.read.format("delta").load(silver_path(table))


def revenue_by_category_month(spark):
    """The revenue aggregate as a DataFrame (what :func:`build` writes)."""
    from pyspark.sql import functions as F

    items = silver_table(spark, "itens_pedidos").alias("i")
    orders = silver_table(spark, "pedidos").alias("p")
    products = silver_table(spark, "produtos").alias("pr")
    categories = silver_table(spark, "categorias").alias("c")
    frauds = silver_table(spark, "fraudes_confirmadas").select("id_pedido").alias("f")
    joined = (items.join(orders, F.col("i.id_pedido") == F.col("p.id"))
              .join(products, F.col("i.id_produto") == F.col("pr.id"))
              .join(categories, F.col("pr.id_categoria") == F.col("c.id"))
              .join(frauds, F.col("f.id_pedido") == F.col("i.id_pedido"), "left"))
    fraud = F.col("f.id_pedido").isNotNull()
    return (joined.groupBy(F.date_format("p.dt_venda", "yyyy-MM").alias("month"),
                           F.col("c.descricao").alias("category"))
            .agg(F.countDistinct("i.id_pedido").alias("orders"),
                 F.count(F.lit(1)).alias("items"),
                 F.sum("i.qtde").cast("bigint").alias("quantity"),
                 F.sum("i.valor_total").alias("revenue"),
                 F.coalesce(F.sum(F.when(fraud, F.col("i.valor_total"))),
                            F.lit(0).cast("decimal(20,2)")).alias("fraud_revenue"))
            .select(*REVENUE_COLUMNS))


def order_features(spark):
    """The per-order features of silver's orders (what :func:`build` writes)."""
    from .features import order_features as features

    return features(*(silver_table(spark, t)
                      for t in ("pedidos", "itens_pedidos", "auditoria_pedidos", "enderecos")))


def _write(df, table: str) -> dict:
    t0 = time.monotonic()
    (df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
     .save(table_path(table)))
    return {"path": table_path(table), "seconds": round(time.monotonic() - t0, 2)}


def build(spark=None, *, s: Settings | None = None, tables: list[str] | None = None) -> dict:
    """Rebuild the gold tables (all, or ``tables``) from silver; returns paths, rows, seconds."""
    from .spark import spark_session

    s = s or load_settings()
    spark = spark or spark_session("gold", s=s)
    builders = {REVENUE: revenue_by_category_month, FEATURES: order_features}
    out = {}
    for name, fn in builders.items():
        if tables and name not in tables:
            continue
        out[name] = _write(fn(spark), name)
        out[name]["rows"] = spark.read.format("delta").load(table_path(name)).count()
    return out
