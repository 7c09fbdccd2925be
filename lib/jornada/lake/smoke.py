"""A small Delta round trip on the lake: the check that Spark, S3A, Delta and the store agree.

From Python (any session)::

    delta_roundtrip(spark_session("check"), "s3a://bronze/_smoke/demo", rows=1000)

As a `spark-submit` script (what tests/test_spark.py runs on the standalone cluster)::

    jornada.lake.spark.submit(jornada.lake.smoke.__file__, "s3a://bronze/_smoke/demo", "1000",
                              master=settings().spark_master_url)

prints one JSON line: ``{"rows": …, "sum": …, "version": …, "master": …, "seconds": …}``.
"""

from __future__ import annotations

import json
import sys
import time


def delta_roundtrip(spark, path: str, rows: int = 1000) -> dict:
    """Overwrite a Delta table of ``rows`` rows at ``path``, read it back, return what was read."""
    started = time.monotonic()
    df = spark.range(rows).selectExpr("id", "id * 2 AS doubled", "CAST(id % 7 AS STRING) AS bucket")
    df.write.format("delta").mode("overwrite").save(path)
    written = time.monotonic()
    back = spark.read.format("delta").load(path)
    row = back.selectExpr("count(*) AS rows", "sum(id) AS total", "sum(doubled) AS doubled").first()
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").selectExpr("max(version)").first()[0]
    return {"rows": row["rows"], "sum": row["total"], "doubled": row["doubled"],
            "version": history, "master": spark.sparkContext.master,
            "write_s": round(written - started, 2), "read_s": round(time.monotonic() - written, 2)}


def main(argv: list[str]) -> None:
    from pyspark.sql import SparkSession

    path = argv[1]
    rows = int(argv[2]) if len(argv) > 2 else 1000
    spark = SparkSession.builder.getOrCreate()  # configured by spark-submit's properties file
    try:
        print("JORNADA-RESULT " + json.dumps(delta_roundtrip(spark, path, rows)), flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv)
