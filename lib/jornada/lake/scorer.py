"""The real-time fraud scorer: one scored decision per order, Kafka in, Kafka out.

    >>> run(spark, bootstrap, mode="real-time")   # both queries, until stopped

    python -m jornada.lake.scorer run [--starting-offsets latest] [--mode micro-batch|real-time]

Query 1 (the scorer, Kafka → Kafka) gives each order its customer's profile (home, habitual
device, order count, mean amount, last order — a static Delta table that gold refreshes:
:func:`jornada.lake.features.customer_profiles`, broadcast to the query), applies the two rules
and the current model (:func:`jornada.lake.model.load_current`), and writes one JSON record per
order to the topic ``fraude.alertas``: order, customer, score, alert (score ≥ the manifest's
threshold), reasons, model version, commit time (Postgres commit, from the event) and alert time
(when the scorer decided). A customer with no profile (a new customer) gets no device signal and
no history: the left join leaves those columns null. Two modes, the same decisions:

* ``real-time`` — Spark's real-time mode (``trigger(realTime=…)``), which runs stateless
  queries only: map, filter, union, stream–static broadcast join. So the input is one
  self-contained event per order: the shop writes it in the order's own transaction with
  ``pg_logical_emit_message`` (the outbox pattern without an outbox table: committed with the
  order or not at all) and Debezium publishes it to ``liga.message`` (base64 content). The
  features are native Spark expressions: the geohash decoded bit by bit
  (:func:`jornada.lake.features.geohash_centre`), the UF by a broadcast join with a geohash
  prefix → UF table (:func:`jornada.geo.uf_cells`), the alert time read from the JVM's clock per
  row (``current_timestamp`` is fixed per batch, and a real-time batch lasts its whole
  checkpoint interval). The static tables are read when a batch starts: a gold refresh reaches
  the scorer at the next checkpoint interval (:data:`REAL_TIME_CHECKPOINT`).
* ``micro-batch`` — the two CDC topics (``pedidos``: customer, sale time, amount;
  ``auditoria_pedidos``: device, geohash) joined on the order id (a stream–stream join keeps
  state: each side waits for the other, which real-time mode refuses), the UF and distance by
  :mod:`jornada.geo` itself in a pandas UDF; the profile table is re-read by every micro-batch.

Query 2 (micro-batch, topic → Delta): appends the decisions to ``s3a://gold/fraude_alertas``
through an idempotent MERGE keyed by order (the topic is at-least-once: a scorer killed after
writing but before committing its offsets writes some records again; the table keeps each order
exactly once). Real-time mode cannot write Delta: this query is micro-batch in both modes. With
the real-time scorer it runs in a process of its own (``python -m jornada.lake.scorer sink``, a
child of the scorer at a lower CPU priority): in the scorer's JVM, its MERGE batches took the
cores from the real-time task every few seconds (200 orders/s, 2 cores: commit → alert p99 523 ms
in one JVM, 455 ms apart; ``benchmarks/bench_scoring.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

ALERTS_TOPIC = "fraude.alertas"
ALERTS_TABLE = "s3a://gold/fraude_alertas"
PROFILES_TABLE = "s3a://gold/customer_profiles"
CHECKPOINTS = "s3a://checkpoints/fraud"
UF_CELLS_TABLE = "s3a://gold/uf_cells"
REAL_TIME_CHECKPOINT = "5 minutes"
REAL_TIME_MASTER = "local[2]"   # the message topic's one partition, and a core for batch starts
SINK_NICENESS = 10              # the Delta sink's CPU priority below the real-time scorer's
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


_MESSAGE = T.StructType([T.StructField("op", T.StringType()), T.StructField("source", _SOURCE),
                         T.StructField("message", T.StructType([
                             T.StructField("prefix", T.StringType()),
                             T.StructField("content", T.StringType())]))])
_ORDER_EVENT = T.StructType([T.StructField("id_pedido", T.LongType()),
                             T.StructField("id_pessoa", T.LongType()),
                             T.StructField("dt_venda", T.LongType()),
                             T.StructField("valor_total", T.StringType()),
                             T.StructField("n_items", T.LongType()),
                             T.StructField("dispositivo", T.StringType()),
                             T.StructField("geohash", T.StringType())])


def order_messages(spark, starting_offsets, bootstrap: str) -> DataFrame:
    """One row per order from its own event (no join): the logical decoding message the shop
    writes in the order's transaction (:data:`jornada.generators.stream.ORDER_EVENT_PREFIX`),
    which Debezium publishes to ``<topic.prefix>.message`` with the content in base64."""
    from ..cdc.config import message_topic
    from ..generators.stream import ORDER_EVENT_PREFIX

    topic = message_topic()
    raw = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", topic).option("startingOffsets", _starting(topic, starting_offsets))
           .option("failOnDataLoss", "false").load())
    ev = raw.where(F.col("value").isNotNull()).select(
        F.from_json(F.col("value").cast("string"), _MESSAGE).alias("e"))
    ev = ev.where((F.col("e.op") == "m") & (F.col("e.message.prefix") == ORDER_EVENT_PREFIX))
    order = F.from_json(F.unbase64("e.message.content").cast("string"), _ORDER_EVENT)
    return ev.select(order.alias("o"), F.timestamp_millis("e.source.ts_ms").alias("commit_time")
                     ).select(
        "o.id_pedido", "o.id_pessoa", F.timestamp_micros("o.dt_venda").alias("dt_venda"),
        F.col("o.valor_total").cast("double").alias("valor_total"), "commit_time",
        "o.dispositivo", "o.geohash")


def _with_places(df: DataFrame, cells: DataFrame | None) -> DataFrame:
    """``_here``/``_home`` (struct lat, lon) and ``uf``: through jornada.geo in a pandas UDF
    (``cells`` None: exactly the library's answer), or natively — the geohash decoded by Spark
    expressions and the UF by a broadcast join with the prefix table (:func:`jornada.geo.
    uf_cells`: a cell inside one state, else its finer cells), which real-time mode accepts."""
    from ..geo import UF_CELL_LEVELS
    from .features import geohash_centre, geohash_point

    if cells is None:
        return (df.withColumn("_here", geohash_point("geohash"))
                .withColumn("_home", geohash_point("home_geohash"))
                .withColumn("uf", F.col("_here.uf")))
    gh = F.lower(F.trim(F.col("geohash")))
    for n in UF_CELL_LEVELS:
        level = cells.where(F.length("prefix") == n).select(
            F.col("prefix").alias(f"_p{n}"), F.col("uf").alias(f"_uf{n}"))
        df = df.join(F.broadcast(level), F.substring(gh, 1, n) == F.col(f"_p{n}"), "left")
    finest = [F.col(f"_uf{n}") for n in sorted(UF_CELL_LEVELS, reverse=True)]
    return (df.withColumn("uf", F.coalesce(*finest))
            .drop(*[f"_p{n}" for n in UF_CELL_LEVELS], *[f"_uf{n}" for n in UF_CELL_LEVELS])
            .withColumn("_here", geohash_centre("geohash"))
            .withColumn("_home", geohash_centre("home_geohash")))


def features_of(events: DataFrame, profiles: DataFrame, cells: DataFrame | None = None
                ) -> DataFrame:
    """The model's and rules' inputs for orders arriving now, from the customer's profile."""
    from .features import haversine_km

    df = _with_places(events.join(F.broadcast(profiles), "id_pessoa", "left"), cells)
    gap = (F.unix_micros("dt_venda") - F.unix_micros("last_order_at")) / F.lit(1e6)
    return (df.withColumn("distance_home_km", haversine_km(F.col("_here.lat"), F.col("_here.lon"),
                                                         F.col("_home.lat"), F.col("_home.lon")))
            .withColumn("hour", F.hour("dt_venda"))
            .withColumn("device_differs", F.coalesce(
                F.col("dispositivo") != F.col("habitual_device"), F.lit(False)))
            .withColumn("n_prev_orders", F.coalesce(F.col("n_orders"), F.lit(0)).cast("long"))
            .withColumn("prev_mean_amount", F.col("mean_amount"))
            .withColumn("seconds_since_prev", F.when(gap >= 0, gap))
            .drop("_here", "_home"))


def decisions(events: DataFrame, profiles: DataFrame, model, manifest: dict,
              cells: DataFrame | None = None, alert_time: Column | None = None) -> DataFrame:
    """Score ``events`` (order + audit rows): rules, model, reasons, version, times."""
    from .model import score
    from .rules import rule_flags

    scored = score(model, rule_flags(features_of(events, profiles, cells)))
    alert = F.col("score") >= F.lit(float(manifest["threshold"]))
    reasons = F.when(alert, F.array_union(F.col("reasons"), F.array(F.lit("model")))) \
        .otherwise(F.col("reasons"))
    return scored.select(
        "id_pedido", "id_pessoa", "dt_venda", "valor_total", "dispositivo", "habitual_device",
        "geohash", "uf", "score", alert.alias("alert"), reasons.alias("reasons"),
        F.lit(manifest["version"]).alias("model_version"), "commit_time",
        (F.current_timestamp() if alert_time is None else alert_time).alias("alert_time"))


def write_profiles(profiles: DataFrame, path: str = PROFILES_TABLE) -> int:
    """Overwrite the scorer's static table (what a gold refresh does); returns its row count.

    Each micro-batch of the scorer reads the table's latest version, so a refresh reaches a
    running scorer without a restart.
    """
    profiles.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return profiles.sparkSession.read.format("delta").load(path).count()


def uf_cells_table(spark, root: str = UF_CELLS_TABLE) -> DataFrame:
    """The prefix → UF table of :func:`jornada.geo.uf_cells` as a Delta table (written once per
    content: the folder is named by its digest), read back as a static DataFrame. A file scan,
    not a local relation: real-time mode accepts file scans on a join's static side, and
    ``createDataFrame`` from Python would be an RDD scan, which it refuses."""
    import hashlib

    from ..geo import uf_cells
    from .delta_tools import is_delta_table

    cells = uf_cells()
    digest = hashlib.sha256(repr(cells).encode()).hexdigest()[:12]
    path = f"{root}/{digest}"
    if not is_delta_table(spark, path):
        (spark.createDataFrame(list(cells), "prefix string, uf string").coalesce(1)
         .write.format("delta").mode("overwrite").save(path))
    return spark.read.format("delta").load(path)


def _wall_clock() -> Column:
    """The time a row is decided. current_timestamp() is fixed per batch — in real-time mode a
    batch lasts the whole checkpoint interval — so the JVM's clock is read row by row."""
    return F.timestamp_millis(
        F.expr("java_method('java.lang.System', 'currentTimeMillis')").cast("long"))


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

    from .. import kafka

    if mode not in ("micro-batch", "real-time"):
        raise ValueError(f"unknown mode {mode!r}: 'micro-batch' or 'real-time'")
    kafka.ensure_topic(topic)
    model, manifest = load_current(spark, prefix=model_prefix or PREFIX)
    profiles = spark.read.format("delta").load(profiles_path)
    if mode == "real-time":
        out = to_kafka(decisions(order_messages(spark, starting_offsets, bootstrap), profiles,
                                 model, manifest, uf_cells_table(spark), alert_time=_wall_clock()))
    else:
        out = to_kafka(decisions(order_events(spark, starting_offsets, bootstrap), profiles,
                                 model, manifest))
    writer = (out.writeStream.queryName("fraud_scorer").format("kafka")
              .option("kafka.bootstrap.servers", bootstrap).option("topic", topic)
              .option("checkpointLocation", checkpoint))
    if mode == "real-time":
        # the trigger's interval is how often progress is checkpointed, not a latency
        writer = writer.outputMode("update").trigger(realTime=REAL_TIME_CHECKPOINT)
    return writer.start(), manifest


def run(spark, bootstrap: str, *, alerts_table: str = ALERTS_TABLE,
        checkpoints: str = CHECKPOINTS, delta_sink: bool = True, **scorer_options):
    """Both queries (the sink only with ``delta_sink``); returns them (the caller awaits or
    stops them): ``(scorer, sink or None, manifest)``."""
    scorer, manifest = start_scorer(spark, bootstrap, checkpoint=f"{checkpoints}/scorer",
                                    **scorer_options)
    sink = alerts_to_delta(spark, bootstrap, alerts_table, f"{checkpoints}/alerts_delta",
                           scorer_options.get("topic", ALERTS_TOPIC)) if delta_sink else None
    return scorer, sink, manifest


def command(*, profiles: str, alerts_table: str, checkpoints: str, topic: str, model_prefix: str,
            starting_offsets: dict | str = "latest", mode: str = "micro-batch") -> list[str]:
    """The scorer as its own process (``python -m jornada.lake.scorer run …``), as in production."""
    offsets = starting_offsets if isinstance(starting_offsets, str) else json.dumps(starting_offsets)
    return [sys.executable, "-m", "jornada.lake.scorer", "run", "--profiles", profiles,
            "--alerts-table", alerts_table, "--checkpoints", checkpoints, "--topic", topic,
            "--model-prefix", model_prefix, "--starting-offsets", offsets, "--mode", mode]


def sink_command(*, alerts_table: str, checkpoints: str, topic: str) -> list[str]:
    """Query 2 alone, as its own process (the real-time scorer starts it)."""
    return [sys.executable, "-m", "jornada.lake.scorer", "sink", "--alerts-table", alerts_table,
            "--checkpoints", checkpoints, "--topic", topic]


def _as_sink_child() -> None:
    """In the sink's process before it starts: a lower CPU priority, and SIGTERM when its parent
    (the scorer) dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG)."""
    import ctypes

    os.nice(SINK_NICENESS)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _start_sink(args) -> subprocess.Popen:
    return subprocess.Popen(sink_command(alerts_table=args.alerts_table, checkpoints=args.checkpoints,
                                         topic=args.topic), preexec_fn=_as_sink_child)


def _await(spark, sink: subprocess.Popen | None) -> None:
    """Until a query stops, or the sink process does (its exit code is the scorer's)."""
    while not spark.streams.awaitAnyTermination(5):
        if sink is not None and sink.poll() is not None:
            raise SystemExit(f"the alerts sink stopped (exit {sink.returncode}): the scorer stops too")


def main(argv: list[str] | None = None) -> None:
    from ..cdc.connect import bootstrap_servers
    from .spark import spark_session

    parser = argparse.ArgumentParser(prog="python -m jornada.lake.scorer")
    parser.add_argument("command", choices=["run", "sink"])
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
    if args.command == "sink":
        spark = spark_session("fraud-alerts-sink")
        alerts_to_delta(spark, bootstrap_servers(), args.alerts_table,
                        f"{args.checkpoints}/alerts_delta", args.topic)
        try:
            _await(spark, None)
        finally:
            spark.stop()
        return
    real_time = args.mode == "real-time"
    # Real-time mode keeps one task per Kafka partition running for the whole checkpoint
    # interval; the Delta sink's MERGE batches would compete with it for this JVM's cores
    sink = _start_sink(args) if real_time else None
    spark = spark_session("fraud-scorer", master=REAL_TIME_MASTER if real_time else None)
    _, _, manifest = run(spark, bootstrap_servers(), alerts_table=args.alerts_table,
                         checkpoints=args.checkpoints, delta_sink=not real_time,
                         profiles_path=args.profiles, topic=args.topic, starting_offsets=offsets,
                         mode=args.mode, model_prefix=args.model_prefix)
    print(f"JORNADA-SCORER model={manifest['version']} topic={args.topic}", flush=True)
    try:
        _await(spark, sink)
    finally:
        if sink is not None and sink.poll() is None:
            sink.send_signal(signal.SIGINT)     # its finally stops its Spark session
            try:
                sink.wait(60)
            except subprocess.TimeoutExpired:
                sink.kill()
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
