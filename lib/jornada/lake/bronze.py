"""Bronze: every Debezium change event, as it arrived, in one Delta table per OLTP table.

    >>> from jornada.lake import bronze
    >>> bronze.run(spark)                          # catch up (trigger availableNow), then stop
    >>> bronze.run(spark, continuous=True)         # processingTime trigger, until stopped

One Structured Streaming query reads every table's topic (``liga.public.<table>``, see
:func:`jornada.cdc.topic_for`) and a ``foreachBatch`` appends each micro-batch's events to
``s3a://bronze/<table>``. One query instead of one per table: on a 2-core machine eight
concurrent micro-batch loops would fight for the cores, and one Kafka read per batch is cheaper.
Spark decodes the batch; the appends are delta-rs's (``deltalake.write_deltalake`` on the batch
as Arrow, in the driver): a Spark append of a few hundred rows ran ≈ 1 s of Delta's jobs per
table on 2 cores, delta-rs commits the same in ≈ 0.1 s — the same Delta protocol, read by Spark
as any other commit.

Exactly once across crashes. The query's progress is in its checkpoint
(``s3a://checkpoints/bronze``: the offsets of every batch are logged *before* the batch runs, its
commit after). A driver killed mid-batch re-runs that batch, with the same offsets, when it
restarts — and only that batch, only as the first one of the new run. Each table's append is
tagged with the batch (Delta's ``userMetadata``: this checkpoint's query id and the batch id), so
a run's first batch first reads each table's latest commit (delta-rs, no Spark job) and skips
the tables that already hold it; the batches after it are new. Delta's own idempotent-write
options (``txnAppId``/``txnVersion``) do the same on every commit, but looking them up replayed
the table's log in a Spark job per table and batch: it doubled the cost of an append. Deleting
the checkpoint gives the query a new id, and with it new tags — a reset must delete tables and
checkpoint together (:func:`reset`).

Checkpoints live in their own bucket, never inside a table folder: VACUUM deletes every file of a
table folder that is not Delta's (only names starting with ``_`` are spared).

Columns of every bronze table (one schema for all: bronze does not need to know the tables):

===================  ==========  =============================================================
``topic``            string      Kafka topic
``partition``        int         Kafka partition
``offset``           bigint      Kafka offset — (topic, partition, offset) is unique
``kafka_ts``         timestamp   Kafka record time (when Connect produced it)
``key``              string      the row's primary key, Debezium's JSON (``{"id": 7}``)
``op``               string      ``r`` snapshot read, ``c`` insert, ``u`` update, ``d`` delete
``before``           string      the row before the change, JSON (only the key unless REPLICA
                                 IDENTITY FULL; the row of a delete); NULL for c/r
``after``            string      the row after the change, JSON; NULL for a delete
``lsn``              bigint      the change's position in Postgres's WAL
``source_ts``        timestamp   commit time in Postgres (microseconds)
``txid``             bigint      Postgres transaction id
``snapshot``         string      Debezium's snapshot marker (``true``/``last``/``false``…)
``ingested_at``      timestamp   when this batch was written (Spark's clock)
===================  ==========  =============================================================

``before``/``after`` stay JSON *strings*, exactly as Debezium sent them: bronze is the
replayable record of what arrived, so it must not fail (or silently drop a field) when a
column is added upstream; silver parses them with the OLTP's column types
(:mod:`jornada.lake.silver`). Numerics are exact strings (``decimal.handling.mode=string``),
timestamps microseconds and dates days since the epoch (stack/register-liga-oltp.json).
Tombstones (the null-valued record Kafka compaction needs after a delete) are dropped
(``value IS NOT NULL``); the delete event before them carries the change.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

from .. import cdc
from ..config import Settings, settings as load_settings
from ..schema import OLTP_TABLES
from .delta_tools import append_arrow, each_table

BUCKET = "bronze"
CHECKPOINT_BUCKET = "checkpoints"
QUERY_NAME = "bronze"
PROCESSING_TIME = "5 seconds"    # measured: 1 s batches fall behind on 2 cores (LAKEHOUSE_FACTS)
MAX_OFFSETS_PER_TRIGGER = 200_000  # events per micro-batch: bounds the 1 GB driver's memory

COLUMNS = ["topic", "partition", "offset", "kafka_ts", "key", "op", "before", "after", "lsn",
           "source_ts", "txid", "snapshot", "ingested_at"]
DDL = ("topic STRING, `partition` INT, `offset` BIGINT, kafka_ts TIMESTAMP, key STRING, "
       "op STRING, before STRING, after STRING, lsn BIGINT, source_ts TIMESTAMP, txid BIGINT, "
       "snapshot STRING, ingested_at TIMESTAMP")
# the parts of Debezium's envelope bronze keeps; before/after typed STRING keep their raw JSON
ENVELOPE = ("op STRING, before STRING, after STRING, ts_ms BIGINT, source STRUCT<lsn: BIGINT, "
            "ts_ms: BIGINT, ts_us: BIGINT, txId: BIGINT, snapshot: STRING, `table`: STRING>")


def tables() -> list[str]:
    """The OLTP tables the lake holds (parents first)."""
    return list(OLTP_TABLES)


def table_path(table: str) -> str:
    return f"s3a://{BUCKET}/{table}"


def checkpoint_path(stage: str = QUERY_NAME) -> str:
    """``s3a://checkpoints/<stage>``: outside every table folder, where VACUUM cannot reach."""
    return f"s3a://{CHECKPOINT_BUCKET}/{stage}"


def topics(prefix: str | None = None) -> dict[str, str]:
    """Kafka topic → OLTP table (``prefix``: another connector's ``topic.prefix``; default the
    course connector's, ``liga``)."""
    prefix = prefix or cdc.topic_prefix()
    return {f"{prefix}.public.{t}": t for t in tables()}


def ensure_tables(spark, names: list[str] | None = None) -> list[str]:
    """Create the empty bronze tables that do not exist yet (silver streams from all of them,
    including tables that have had no change so far). Returns the ones created."""
    from .delta_tools import STREAMED_TABLE, create_empty, is_delta_table

    created = []
    for table in names or tables():
        path = table_path(table)
        if not is_delta_table(spark, path):
            create_empty(spark, path, DDL, STREAMED_TABLE)
            created.append(table)
    return created




def decode(kafka_df):
    """Kafka rows (key, value, topic, partition, offset, timestamp) → bronze rows; tombstones out."""
    from pyspark.sql import functions as F

    v = F.from_json(F.col("value").cast("string"), ENVELOPE)
    return (kafka_df.where(F.col("value").isNotNull())
            .select("topic", "partition", "offset", F.col("timestamp").alias("kafka_ts"),
                    F.col("key").cast("string").alias("key"), v.alias("v"))
            .select("topic", "partition", "offset", "kafka_ts", "key",
                    F.col("v.op").alias("op"), F.col("v.before").alias("before"),
                    F.col("v.after").alias("after"), F.col("v.source.lsn").alias("lsn"),
                    F.expr("timestamp_micros(coalesce(v.source.ts_us, v.source.ts_ms * 1000))")
                    .alias("source_ts"),
                    F.col("v.source.txId").alias("txid"),
                    F.col("v.source.snapshot").alias("snapshot"),
                    F.current_timestamp().alias("ingested_at")))


def _query_id(spark, checkpoint: str) -> str:
    """The id Spark keeps in ``<checkpoint>/metadata``: stable across restarts, new after a reset."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(checkpoint + "/metadata")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        return json.loads(reader.readLine())["id"]
    finally:
        stream.close()


def holds(table: str, tag: str, s: Settings | None = None) -> bool:
    """Whether the bronze table's latest commit is the append tagged ``tag`` (see the docstring)."""
    from .delta_tools import delta_table

    latest = delta_table(table_path(table), s=s).history(1)
    return bool(latest) and latest[0].get("userMetadata") == tag


class _Writer:
    """The foreachBatch of the bronze query (runs in the driver, between Spark jobs)."""

    def __init__(self, spark, checkpoint: str, topic_table: dict[str, str],
                 log: Callable[[str], None], then: Callable | None = None, s: Settings | None = None):
        self.spark, self.checkpoint, self.log, self.then, self.s = spark, checkpoint, log, then, s
        self.topic_table = topic_table
        self.rows: dict[str, int] = {}
        self.batches = 0
        self._app_id: str | None = None

    def __call__(self, batch_df, batch_id: int) -> None:
        import pyarrow.compute as pc

        first = self._app_id is None
        if first:
            self._app_id = _query_id(self.spark, self.checkpoint)
        tag = f"{self._app_id}:{batch_id}"
        t0 = time.monotonic()
        df = decode(batch_df).persist()
        try:
            # the batch once to the driver (Arrow), where delta-rs appends it: a Spark append
            # is ≈ 1 s of Delta's jobs per table here, delta-rs ≈ 0.1 s; silver parses this Arrow
            events = df.toArrow()
            counts = {r["values"]: r["counts"] for r in pc.value_counts(events["topic"]).to_pylist()}
            mine = {self.topic_table[t]: t for t in sorted(counts) if t in self.topic_table}
            # only a run's first batch can be one a killed driver had begun
            held = {t for t, has in each_table(lambda t: holds(t, tag, self.s), mine).items()
                    if has} if first else set()

            parts = {table: events.filter(pc.equal(events["topic"], topic))
                     for table, topic in mine.items()}

            def write(table):
                if table not in held:
                    append_arrow(table_path(table), parts[table], user_metadata=tag, s=self.s)

            each_table(write, mine)
            for table, topic in mine.items():
                self.rows[table] = self.rows.get(table, 0) + counts[topic]
            self.batches += 1
            self.log(f"bronze batch {batch_id}: {sum(counts.values())} event(s) "
                     f"{dict(sorted(counts.items()))} in {time.monotonic() - t0:.1f} s")
            if self.then is not None and mine:
                from pyspark.sql import functions as F

                names = F.create_map(*[F.lit(x) for pair in self.topic_table.items() for x in pair])
                self.then(df.withColumn("table", F.element_at(names, F.col("topic"))), batch_id,
                          {table: counts[topic] for table, topic in mine.items()}, parts)
        finally:
            df.unpersist()


def start(spark, *, continuous: bool = False, processing_time: str = PROCESSING_TIME,
          max_offsets_per_trigger: int | None = MAX_OFFSETS_PER_TRIGGER,
          checkpoint: str | None = None, topic_prefix: str | None = None,
          s: Settings | None = None, log: Callable[[str], None] = lambda m: None,
          then: Callable | None = None):
    """Start the bronze query; returns ``(query, writer)`` (the writer counts rows per table).

    ``then(rows, batch_id, counts, events)``, if given, runs after each batch's appends, on the
    batch's bronze rows (plus ``table``), their number per table and, per table, the same rows as
    a pyarrow table: silver in the same query (:func:`jornada.lake.silver.start_with_bronze`)."""
    s = s or load_settings()
    checkpoint = checkpoint or checkpoint_path()
    ensure_tables(spark)
    topic_table = topics(topic_prefix)
    # a fresh checkpoint starts where the lake's snapshot was taken (silver.snapshot), or at
    # the beginning of the topics; an existing checkpoint ignores this and continues
    state = lake_state(s) if topic_prefix is None else None
    starting = json.dumps(_starting_offsets(state, topic_table, s)) if state else "earliest"
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", s.kafka_bootstrap)
              .option("subscribe", ",".join(topic_table))
              .option("startingOffsets", starting)
              # a topic whose offsets went backwards (re-created) stops the query: bronze would
              # otherwise skip or repeat events without anyone noticing
              .option("failOnDataLoss", "true"))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    writer = _Writer(spark, checkpoint, topic_table, log, then, s)
    stream = (reader.load().writeStream.queryName(QUERY_NAME).foreachBatch(writer)
              .option("checkpointLocation", checkpoint))
    stream = (stream.trigger(processingTime=processing_time) if continuous
              else stream.trigger(availableNow=True))
    return stream.start(), writer


def run(spark=None, *, continuous: bool = False, processing_time: str = PROCESSING_TIME,
        max_offsets_per_trigger: int | None = MAX_OFFSETS_PER_TRIGGER,
        timeout_s: float | None = None, topic_prefix: str | None = None,
        s: Settings | None = None, log: Callable[[str], None] = lambda m: None) -> dict:
    """Catch up (``availableNow``: everything in the topics now, then stop) or run continuously
    (``processingTime``) until ``timeout_s``, SIGTERM/SIGINT, or forever.

    Returns ``{"rows": {table: events written by this run}, "batches": n, "seconds": …}``.
    """
    from .spark import spark_session

    s = s or load_settings()
    spark = spark or spark_session("bronze", s=s)
    t0 = time.monotonic()
    query, writer = start(spark, continuous=continuous, processing_time=processing_time,
                          max_offsets_per_trigger=max_offsets_per_trigger,
                          topic_prefix=topic_prefix, s=s, log=log)
    wait(query, continuous, timeout_s)
    return {"rows": dict(sorted(writer.rows.items())), "events": sum(writer.rows.values()),
            "batches": writer.batches, "seconds": round(time.monotonic() - t0, 2)}


def wait(query, continuous: bool, timeout_s: float | None) -> None:
    """Block until the query ends (availableNow: caught up; continuous: timeout or a signal);
    stop it, and raise if it failed."""
    previous = _stop_on_signals(query) if continuous else {}
    try:
        query.awaitTermination(timeout_s)
    finally:
        if query.isActive:
            query.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if query.exception() is not None:
        raise RuntimeError(f"the {query.name} query failed: {query.exception()}")


def _stop_on_signals(query) -> dict:
    """SIGTERM/SIGINT stop the query between batches (a clean stop; SIGKILL is a crash)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, frame):  # noqa: ARG001 - signal handler signature
        query.stop()

    return {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}


def offsets(spark, names: list[str] | None = None):
    """The (topic, partition, offset) of every bronze row, with its table: a DataFrame."""
    from functools import reduce

    from pyspark.sql import functions as F

    frames = [spark.read.format("delta").load(table_path(t))
              .select(F.lit(t).alias("table"), "topic", "partition", "offset")
              for t in names or tables()]
    return reduce(lambda a, b: a.unionByName(b), frames)


STATE_KEY = "lake/state.json"


def _starting_offsets(state: dict, topic_table: dict[str, str], s: Settings) -> dict:
    """The snapshot's offsets for every partition that exists now (Spark wants all of them):
    a topic created after the snapshot starts at its beginning (-2)."""
    from .. import kafka

    existing = set(kafka.list_topics(s))
    recorded = state.get("starting_offsets") or {}
    out: dict[str, dict[str, int]] = {}
    for (topic, partition), _ in kafka.end_offsets(list(topic_table), s).items():
        if topic in existing:
            out.setdefault(topic, {})[str(partition)] = recorded.get(topic, {}).get(str(partition), -2)
    return out


def write_state(state: dict, s: Settings | None = None) -> None:
    """Record the lake's starting point (see :func:`lake_state`)."""
    from .. import s3

    s3.put_bytes(CHECKPOINT_BUCKET, STATE_KEY, json.dumps(state).encode(), "application/json", s=s)


def lake_state(s: Settings | None = None) -> dict | None:
    """What the last snapshot recorded (``s3://checkpoints/lake/state.json``): the OLTP's
    identity and the Kafka offsets bronze starts from; None before the first snapshot."""
    from minio.error import S3Error

    from .. import s3

    try:
        return json.loads(s3.get_bytes(CHECKPOINT_BUCKET, STATE_KEY, s=s))
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            return None
        raise


def empty(spark, s: Settings | None = None) -> dict:
    """Empty every bronze table with a Delta commit (an overwrite with no rows) and delete the
    bronze checkpoint and state: the snapshot's restart. Unlike :func:`reset`, which deletes the
    folders, the tables stay Delta tables for a session that has already read them (its cached
    logs would still believe in the deleted ones)."""
    from .. import s3

    from .delta_tools import delta_table

    s = s or load_settings()
    ensure_tables(spark)
    for table in tables():
        path = table_path(table)
        # an empty table needs no commit (counted by delta-rs, no Spark job): after a snapshot
        # with nothing streamed since, that saves a read and an overwrite commit per table
        if delta_table(path, s=s).to_pyarrow_dataset().count_rows() == 0:
            continue
        spark.read.format("delta").load(path).limit(0).write.format("delta").mode("overwrite").save(path)
    return {"_checkpoint": s3.delete_prefix(CHECKPOINT_BUCKET, QUERY_NAME + "/", s=s),
            "_state": s3.delete_prefix(CHECKPOINT_BUCKET, STATE_KEY, s=s)}


def reset(s: Settings | None = None) -> dict:
    """Delete every bronze table AND the bronze checkpoint (one without the other would either
    re-read everything into a full table or resume past the events of the deleted tables)."""
    from .. import s3

    s = s or load_settings()
    out = {t: s3.delete_prefix(BUCKET, t + "/", s=s) for t in tables()}
    out["_checkpoint"] = s3.delete_prefix(CHECKPOINT_BUCKET, QUERY_NAME + "/", s=s)
    out["_state"] = s3.delete_prefix(CHECKPOINT_BUCKET, STATE_KEY, s=s)
    return out

