"""The lakehouse (lessons 06-07): an S3 object store, Delta tables on it, Spark to process them.

- :mod:`jornada.s3` (a client module, below the stack): buckets and objects through the ``minio`` S3 client; endpoint,
  keys and region come from the settings, so the same code talks to SeaweedFS (native runtime)
  and MinIO (compose).
- :mod:`jornada.lake.spark`: the one SparkSession builder (S3A, Delta, small-machine defaults).
- :mod:`jornada.lake.delta_tools`: file counts of a table on S3, delta-rs readers with the
  settings' keys, the memory of the stack plus a Spark driver (lesson 06 and its checks).
- :mod:`jornada.lake.bronze` → :mod:`jornada.lake.silver` → :mod:`jornada.lake.gold`: the
  CDC topics into Delta tables (``s3a://bronze|silver|gold/<table>``), checkpoints in
  ``s3a://checkpoints/<stage>``. :func:`refresh` runs the three in order (what the
  ``lake_refresh`` DAG and ``jornada lake refresh`` do).

Module level stays import-light (no pyspark): the DAGs import this package at parse time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config import Settings, settings as load_settings
from ..db import ServiceUnavailable


class LakeError(ServiceUnavailable):
    """The lakehouse cannot run; the message names the missing service and the fix."""


def preflight(s: Settings | None = None, needs: tuple[str, ...] = ("s3", "kafka")) -> None:
    """Fail in a second, naming the fix, instead of letting Spark retry a closed port for minutes."""
    from ..stack.runtime import port_open

    s = s or load_settings()
    ports = {"s3": s.s3_port, "kafka": s.kafka_port, "oltp": s.oltp.port}
    closed = [name for name in needs if not s.in_compose and not port_open(int(ports[name]))]
    if closed:
        raise LakeError(f"{', '.join(closed)} not reachable (ports "
                        f"{', '.join(str(ports[n]) for n in closed)}) — start them: "
                        f"`jornada stack up {' '.join(closed)}`")


def refresh(spark=None, *, s: Settings | None = None, gate: bool = True,
            log: Callable[[str], None] = lambda m: None) -> dict:
    """Bronze catch-up (availableNow) → silver (availableNow) → quality gate → gold, in one
    Spark session. The gate (silver row counts equal the OLTP's) expects a quiet OLTP."""
    from .. import cdc
    from . import bronze, gold, silver
    from .spark import spark_session

    s = s or load_settings()
    preflight(s, ("s3", "kafka", "oltp"))
    t0 = time.monotonic()
    own = spark is None
    spark = spark or spark_session("lake-refresh", s=s)
    try:
        # the catch-up's cut-off: everything committed in the OLTP before now is in Kafka
        out = {"capture_wait_s": round(cdc.wait_for_capture(s=s), 2)}
        why = silver.needs_snapshot(s)
        if why:
            log(f"lake: {why} — loading silver from a snapshot")
            out["snapshot"] = silver.snapshot(spark, s, log=log)
        out["bronze"] = bronze.run(spark, s=s, log=log)
        out["silver"] = silver.run(spark, s=s, log=log)
        if gate:
            out["gate"] = silver.quality_gate(s)
        out["gold"] = gold.build(spark, s=s)
    finally:
        if own:
            spark.stop()
    out["seconds"] = round(time.monotonic() - t0, 2)
    return out
