"""The real-time fraud scorer: order + audit CDC events in, one scored decision per order out.

    >>> run(spark, profiles_path="s3a://gold/customer_profiles")   # both queries, until stopped

    python -m jornada.lake.scorer run [--starting-offsets latest] [--mode micro-batch]

Query 1 (the scorer, Kafka → Kafka): reads Debezium's events of ``pedidos`` (customer, sale
time, amount) and ``auditoria_pedidos`` (device, geohash), joins them on the order id, joins the
customer's profile (home, habitual device, order count, mean amount, last order — a static Delta
table that gold refreshes: :func:`jornada.lake.features.customer_profiles`, re-read by every
micro-batch), applies the two rules and the current model (:func:`jornada.lake.model.
load_current`), and writes one JSON record per order to the topic ``fraude.alertas``: order,
customer, score, alert (score ≥ the manifest's threshold), reasons, model version, commit time
(Postgres commit, from the event) and alert time (when the scorer decided).

Why micro-batch and not real-time mode: an order's two events arrive on two topics, and joining
two streams keeps state (each side waits for the other); Spark's real-time mode runs stateless
queries only (map, filter, union, stream–static join). :func:`run` with ``mode="real-time"``
tries ``trigger(realTime=…)`` and lets Spark's refusal surface. A customer with no profile (a new
customer) gets no device signal and no history: the left join leaves those columns null.

Query 2 (micro-batch, topic → Delta): appends the decisions to ``s3a://gold/fraude_alertas``
through an idempotent MERGE keyed by order (the topic is at-least-once: a scorer killed after
writing but before committing its offsets writes some records again; the table keeps each order
exactly once).
"""

from __future__ import annotations

import argparse
import json
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

ALERTS_TOPIC = "fraude.alertas"
ALERTS_TABLE = "s3a://gold/fraude_alertas"
PROFILES_TABLE = "s3a://gold/customer_profiles"
CHECKPOINTS = "s3a://checkpoints/fraud"
JOIN_WINDOW = "2 minutes"   # the two events of one transaction carry the same commit time

_SOURCE = T.StructType([T.StructField("ts_ms", T.LongType()), T.StructField("lsn", T.LongType())])
_ORDER = T.StructType([T.StructField("id", T.LongType()), T.StructField("id_pessoa", T.LongType()),
                       T.StructField("dt_venda", T.LongType()),
                       T.StructField("valor_total", T.StringType())])
_AUDIT = T.StructType([T.StructField("id_pedido", T.LongType()),
                       T.StructField("dispositivo", T.StringType()),
                       T.StructField("geohash", T.StringType())])
ALERT_SCHEMA = T.StructType([
    T.StructField("id_pedido", T.LongType()), T.StructField("id_pessoa", T.LongType()),
    T.StructField("dt_venda", T.TimestampType()), T.StructField("valor_total", T.DoubleType()),
    T.StructField("dispositivo", T.StringType()), T.StructField("habitual_device", T.StringType()),
    T.StructField("geohash", T.StringType()), T.StructField("uf", T.StringType()),
    T.StructField("score", T.DoubleType()), T.StructField("alert", T.BooleanType()),
    T.StructField("reasons", T.ArrayType(T.StringType())),
    T.StructField("model_version", T.StringType()),
    T.StructField("commit_time", T.TimestampType()), T.StructField("alert_time", T.TimestampType()),
])


def _topic(table: str) -> str:
    from ..cdc.config import topic_for

    return topic_for(table)


def _starting(topic: str, starting_offsets) -> str:
    """"latest"/"earliest", or this topic's entry of {topic: {partition: offset}} as Spark's JSON."""
    if isinstance(starting_offsets, str):
        return starting_offsets
    parts = starting_offsets.get(topic, {"0": -2})   # -2: earliest (a topic not written yet)
    return json.dumps({topic: {str(p): int(o) for p, o in parts.items()}})


def _events(spark, table: str, schema: T.StructType, starting_offsets,
            bootstrap: str) -> DataFrame:
    """Debezium inserts of one table: the row (``after``) and the commit time."""
    envelope = T.StructType([T.StructField("op", T.StringType()),
                             T.StructField("after", schema), T.StructField("source", _SOURCE)])
    raw = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", _topic(table))
           .option("startingOffsets", _starting(_topic(table), starting_offsets))
           .option("failOnDataLoss", "false").load())
    ev = raw.where(F.col("value").isNotNull()).select(
        F.from_json(F.col("value").cast("string"), envelope).alias("e"))
    return (ev.where(F.col("e.op").isin("c", "r"))
            .select("e.after.*", F.timestamp_millis("e.source.ts_ms").alias("commit_time")))


def order_events(spark, starting_offsets, bootstrap: str) -> DataFrame:
    """One row per order with its audit data, from the two CDC topics (a stream–stream join)."""
    orders = _events(spark, "pedidos", _ORDER, starting_offsets, bootstrap).select(
        F.col("id").alias("id_pedido"), "id_pessoa",
        F.timestamp_micros("dt_venda").alias("dt_venda"),
        F.col("valor_total").cast("double").alias("valor_total"), "commit_time"
    ).withWatermark("commit_time", JOIN_WINDOW)
    audit = _events(spark, "auditoria_pedidos", _AUDIT, starting_offsets, bootstrap).select(
        F.col("id_pedido").alias("a_id"), "dispositivo", "geohash",
        F.col("commit_time").alias("a_commit")).withWatermark("a_commit", JOIN_WINDOW)
    window = F.expr(f"INTERVAL {JOIN_WINDOW}")
    joined = orders.join(audit, (F.col("id_pedido") == F.col("a_id"))
                         & (F.col("a_commit") >= F.col("commit_time") - window)
                         & (F.col("a_commit") <= F.col("commit_time") + window))
    return joined.drop("a_id", "a_commit")


def features_of(events: DataFrame, profiles: DataFrame) -> DataFrame:
    """The model's and rules' inputs for orders arriving now, from the customer's profile."""
    from .features import geohash_point, haversine_km

    df = events.join(F.broadcast(profiles), "id_pessoa", "left")
    gap = (F.unix_micros("dt_venda") - F.unix_micros("last_order_at")) / F.lit(1e6)
    return (df.withColumn("_here", geohash_point("geohash"))
            .withColumn("_home", geohash_point("home_geohash"))
            .withColumn("uf", F.col("_here.uf"))
            .withColumn("distance_home_km", haversine_km(F.col("_here.lat"), F.col("_here.lon"),
                                                         F.col("_home.lat"), F.col("_home.lon")))
            .withColumn("hour", F.hour("dt_venda"))
            .withColumn("device_differs", F.coalesce(
                F.col("dispositivo") != F.col("habitual_device"), F.lit(False)))
            .withColumn("n_prev_orders", F.coalesce(F.col("n_orders"), F.lit(0)).cast("long"))
            .withColumn("prev_mean_amount", F.col("mean_amount"))
            .withColumn("seconds_since_prev", F.when(gap >= 0, gap))
            .drop("_here", "_home"))


def decisions(events: DataFrame, profiles: DataFrame, model, manifest: dict) -> DataFrame:
    """Score ``events`` (order + audit rows): rules, model, reasons, version, times."""
    from .model import score
    from .rules import rule_flags

    scored = score(model, rule_flags(features_of(events, profiles)))
    alert = F.col("score") >= F.lit(float(manifest["threshold"]))
    reasons = F.when(alert, F.array_union(F.col("reasons"), F.array(F.lit("model")))) \
        .otherwise(F.col("reasons"))
    return scored.select(
        "id_pedido", "id_pessoa", "dt_venda", "valor_total", "dispositivo", "habitual_device",
        "geohash", "uf", "score", alert.alias("alert"), reasons.alias("reasons"),
        F.lit(manifest["version"]).alias("model_version"), "commit_time",
        F.current_timestamp().alias("alert_time"))


def write_profiles(profiles: DataFrame, path: str = PROFILES_TABLE) -> int:
    """Overwrite the scorer's static table (what a gold refresh does); returns its row count.

    Each micro-batch of the scorer reads the table's latest version, so a refresh reaches a
    running scorer without a restart.
    """
    profiles.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return profiles.sparkSession.read.format("delta").load(path).count()


def ensure_topic(topic: str = ALERTS_TOPIC, partitions: int = 1) -> bool:
    """Create the alerts topic if missing (the course's broker does not auto-create topics)."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from .. import kafka

    a = kafka.admin()
    try:
        if topic in a.list_topics():
            return False
        try:
            a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        a.close()


def reset_topic(topic: str = ALERTS_TOPIC, timeout_s: float = 30.0) -> bool:
    """Delete ``topic`` (exactly that name) and wait until the broker forgets it; True if it
    existed. For a fresh run over a reset OLTP: its order ids start again, so the decisions of an
    earlier run would be MERGEd as the new orders' (the alerts table keeps the first per order).
    The scorer creates the topic again when it starts (:func:`ensure_topic`)."""
    import time

    from .. import kafka

    a = kafka.admin()
    try:
        if topic not in a.list_topics():
            return False
        a.delete_topics([topic])
        deadline = time.monotonic() + timeout_s
        while topic in a.list_topics():   # deletion is asynchronous: a create now would fail
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka did not delete topic {topic} within {timeout_s:.0f}s")
            time.sleep(0.5)
        return True
    finally:
        a.close()


def to_kafka(df: DataFrame) -> DataFrame:
    return df.select(F.col("id_pedido").cast("string").alias("key"),
                     F.to_json(F.struct(*df.columns)).alias("value"))


def _merge_batch(table: str):
    def merge(batch: DataFrame, batch_id: int) -> None:
        from delta.tables import DeltaTable

        spark = batch.sparkSession
        rows = batch.dropDuplicates(["id_pedido"])
        if not DeltaTable.isDeltaTable(spark, table):
            rows.limit(0).write.format("delta").mode("ignore").save(table)
        (DeltaTable.forPath(spark, table).alias("t")
         .merge(rows.alias("s"), "t.id_pedido = s.id_pedido")
         .whenNotMatchedInsertAll().execute())
    return merge


def alerts_to_delta(spark, bootstrap: str, table: str = ALERTS_TABLE,
                    checkpoint: str = f"{CHECKPOINTS}/alerts_delta", topic: str = ALERTS_TOPIC,
                    trigger_s: float = 2.0):
    """Query 2: the topic's decisions into a Delta table, each order once (idempotent MERGE)."""
    raw = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", topic).option("startingOffsets", "earliest")
           .option("failOnDataLoss", "false").load())
    rows = raw.select(F.from_json(F.col("value").cast("string"), ALERT_SCHEMA).alias("a"),
                      F.col("timestamp").alias("topic_time")).select("a.*", "topic_time")
    return (rows.writeStream.queryName("fraud_alerts_delta").foreachBatch(_merge_batch(table))
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime=f"{trigger_s} seconds").start())


def start_scorer(spark, bootstrap: str, *, profiles_path: str = PROFILES_TABLE,
                 checkpoint: str = f"{CHECKPOINTS}/scorer", topic: str = ALERTS_TOPIC,
                 starting_offsets="latest", mode: str = "micro-batch",
                 model_prefix: str | None = None):
    """Query 1: CDC → decisions → ``topic``. Returns (StreamingQuery, manifest)."""
    from .model import PREFIX, load_current

    ensure_topic(topic)
    model, manifest = load_current(spark, prefix=model_prefix or PREFIX)
    profiles = spark.read.format("delta").load(profiles_path)
    out = to_kafka(decisions(order_events(spark, starting_offsets, bootstrap), profiles,
                             model, manifest))
    writer = (out.writeStream.queryName("fraud_scorer").format("kafka")
              .option("kafka.bootstrap.servers", bootstrap).option("topic", topic)
              .option("checkpointLocation", checkpoint))
    if mode == "real-time":
        writer = writer.outputMode("update").trigger(realTime="5 minutes")
    elif mode != "micro-batch":
        raise ValueError(f"unknown mode {mode!r}: 'micro-batch' or 'real-time'")
    return writer.start(), manifest


def run(spark, bootstrap: str, *, alerts_table: str = ALERTS_TABLE,
        checkpoints: str = CHECKPOINTS, **scorer_options):
    """Both queries; returns them (the caller awaits or stops them)."""
    scorer, manifest = start_scorer(spark, bootstrap, checkpoint=f"{checkpoints}/scorer",
                                    **scorer_options)
    sink = alerts_to_delta(spark, bootstrap, alerts_table, f"{checkpoints}/alerts_delta",
                           scorer_options.get("topic", ALERTS_TOPIC))
    return scorer, sink, manifest


def command(*, profiles: str, alerts_table: str, checkpoints: str, topic: str, model_prefix: str,
            starting_offsets: dict | str = "latest") -> list[str]:
    """The scorer as its own process (``python -m jornada.lake.scorer run …``), as in production."""
    offsets = starting_offsets if isinstance(starting_offsets, str) else json.dumps(starting_offsets)
    return [sys.executable, "-m", "jornada.lake.scorer", "run", "--profiles", profiles,
            "--alerts-table", alerts_table, "--checkpoints", checkpoints, "--topic", topic,
            "--model-prefix", model_prefix, "--starting-offsets", offsets]


def main(argv: list[str] | None = None) -> None:
    from ..cdc.connect import bootstrap_servers
    from .spark import spark_session

    parser = argparse.ArgumentParser(prog="python -m jornada.lake.scorer")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--profiles", default=PROFILES_TABLE)
    parser.add_argument("--alerts-table", default=ALERTS_TABLE)
    parser.add_argument("--checkpoints", default=CHECKPOINTS)
    parser.add_argument("--topic", default=ALERTS_TOPIC)
    parser.add_argument("--starting-offsets", default="latest",
                        help='latest, earliest or JSON {"topic": {"partition": offset}}')
    parser.add_argument("--mode", default="micro-batch", choices=["micro-batch", "real-time"])
    parser.add_argument("--model-prefix", default=None)
    args = parser.parse_args(argv)
    offsets = args.starting_offsets
    if offsets.lstrip().startswith("{"):
        offsets = json.loads(offsets)
    spark = spark_session("fraud-scorer")
    scorer, sink, manifest = run(spark, bootstrap_servers(), alerts_table=args.alerts_table,
                                 checkpoints=args.checkpoints, profiles_path=args.profiles,
                                 topic=args.topic, starting_offsets=offsets,
                                 mode=args.mode, model_prefix=args.model_prefix)
    print(f"JORNADA-SCORER model={manifest['version']} topic={args.topic}", flush=True)
    try:
        spark.streams.awaitAnyTermination()
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
