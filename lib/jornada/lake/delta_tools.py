"""Small tools lesson 06 and its checks use on Delta tables, so notebooks do not repeat them.

- :func:`table_files`: what a table folder holds on S3 — data files, log files, bytes — counted
  by listing the bucket (the store's truth, whatever the Delta log says is current);
- :func:`delta_table`: the same table opened with ``deltalake`` (delta-rs, no Spark, no JVM),
  with the storage options of the settings; :func:`active_files` counts the files of a version;
- :func:`spark_driver_pid` / :func:`stack_memory`: resident memory of the running stack's
  services plus a Spark session's driver JVM, measured on their real pids;
- :func:`each_table`: one batch's writes to several tables, a few at once.

    >>> table_files("s3a://silver/lesson06/pedidos")
    {'data_files': 12, 'log_files': 13, 'data_bytes': 52814, 'objects': 25}
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..config import Settings, settings as load_settings

LOG_FOLDER = "_delta_log"
TABLE_WRITERS = 4    # tables of one streaming batch written at once
# a streamed table takes a commit per batch; Delta's default checkpoint every 10 commits is a
# Spark job of its own (≈ 3 s here), so the stream's tables checkpoint every 100: a reader
# starting cold replays up to 99 small JSON commits instead of 9
STREAMED_TABLE = {"delta.checkpointInterval": "100"}


def each_table(write, tables, workers: int | None = None) -> dict:
    """``{table: write(table)}``, a few tables at once: one table's write waits on S3 and on
    Delta's commit more than on the CPU, so concurrent writes to independent tables end a batch
    sooner than one after another. The first exception raised is raised."""
    from concurrent.futures import ThreadPoolExecutor

    tables = list(tables)
    workers = TABLE_WRITERS if workers is None else workers
    if len(tables) <= 1 or workers <= 1:
        return {t: write(t) for t in tables}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(tables, pool.map(write, tables)))


def split_url(url: str) -> tuple[str, str]:
    """``s3a://bucket/a/b`` → (``bucket``, ``a/b/``): the bucket and the folder's key prefix."""
    parts = urlsplit(url)
    if parts.scheme not in ("s3a", "s3"):
        raise ValueError(f"{url!r} is not an s3a:// or s3:// URL")
    return parts.netloc, parts.path.strip("/") + "/"


def table_files(url: str, s: Settings | None = None) -> dict[str, int]:
    """Objects under a table folder: parquet data files (any partition folder), log files, bytes.

    Counts what is *stored*: files an OPTIMIZE replaced stay until VACUUM deletes them.
    """
    from .. import s3 as storage

    bucket, prefix = split_url(url)
    data = logs = size = total = 0
    for obj in storage.client(s).list_objects(bucket, prefix=prefix, recursive=True):
        total += 1
        rel = obj.object_name[len(prefix):]
        if rel.startswith(LOG_FOLDER + "/"):
            logs += 1
        elif rel.endswith(".parquet") and not rel.startswith("_"):
            data += 1
            size += obj.size or 0
    return {"data_files": data, "log_files": logs, "data_bytes": size, "objects": total}


def is_delta_table(spark, url: str, s: Settings | None = None) -> bool:
    """Whether ``url`` holds a Delta log, asked of the store itself.

    ``DeltaTable.isDeltaTable`` only asks whether a ``_delta_log`` folder exists, and SeaweedFS
    keeps a folder after its last object is deleted (a reset): the table then "exists" with no
    commit, CREATE TABLE IF NOT EXISTS is skipped and reading it fails with
    DELTA_SCHEMA_NOT_SET. A table exists when its log holds a commit (or a checkpoint); when
    it does not, the session's cache of Delta logs is cleared too."""
    from .. import s3 as storage

    bucket, prefix = split_url(url)
    found = any(obj.object_name.endswith((".json", ".parquet"))
                for obj in storage.client(s).list_objects(bucket, prefix=prefix + LOG_FOLDER + "/",
                                                          recursive=True))
    if not found:
        spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    return found


def create_empty(spark, url: str, ddl: str, properties: dict[str, str] | None = None) -> None:
    """An empty Delta table at ``url`` with the columns of ``ddl`` — by a write, not
    ``CREATE TABLE IF NOT EXISTS``, which a session that has read a since-deleted table at that
    path skips without a word.

    The ``delta.*`` properties are in version 0 itself (the session's defaults for new tables
    during the write): set by an ALTER afterwards, the change feed would start at version 1 and
    a reader from version 0 fails with DELTA_MISSING_CHANGE_DATA."""
    defaults = {f"spark.databricks.delta.properties.defaults.{k.removeprefix('delta.')}": v
                for k, v in (properties or {}).items()}
    before = {k: spark.conf.get(k, None) for k in defaults}
    for key, value in defaults.items():
        spark.conf.set(key, value)
    try:
        spark.createDataFrame([], ddl).write.format("delta").mode("overwrite").save(url)
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def remove_table(url: str, s: Settings | None = None) -> int:
    """Delete a table folder (every object under it); returns how many objects went."""
    from .. import s3 as storage

    bucket, prefix = split_url(url)
    return storage.delete_prefix(bucket, prefix, s=s)


def delta_rs_uri(url: str) -> str:
    """delta-rs speaks ``s3://``; Spark's Hadoop client ``s3a://``: the same object."""
    return "s3://" + url.split("://", 1)[1]


def delta_table(url: str, version: int | str | None = None, s: Settings | None = None):
    """A ``deltalake.DeltaTable`` on the lake (the latest version, or ``version``: a number or an
    ISO timestamp), read with the store's endpoint and keys from the settings."""
    from deltalake import DeltaTable

    from .. import s3 as storage

    dt = DeltaTable(delta_rs_uri(url), storage_options=storage.delta_rs_options(s or load_settings()))
    if version is not None:
        dt.load_as_version(version)
    return dt


def append_arrow(url: str, rows, *, user_metadata: str | None = None, schema_mode: str | None = None,
                 s: Settings | None = None) -> None:
    """Append a pyarrow table to the Delta table at ``url`` with delta-rs: one Parquet file and a
    commit, no Spark job (a Spark append costs ≈ 1 s of jobs here, this ≈ 0.1 s). The commit is
    atomic (a conditional PUT of the log entry) and carries ``user_metadata`` like Spark's
    ``userMetadata`` option; ``schema_mode="merge"`` adds the columns the table lacks."""
    from deltalake import CommitProperties, write_deltalake

    from .. import s3 as storage

    props = CommitProperties(custom_metadata={"userMetadata": user_metadata}) if user_metadata else None
    write_deltalake(delta_rs_uri(url), rows, mode="append", commit_properties=props, schema_mode=schema_mode,
                    storage_options=storage.delta_rs_options(s or load_settings()))


def active_files(url: str, version: int | None = None, s: Settings | None = None) -> int:
    """How many data files make up a version of the table (the Delta log's view)."""
    return len(delta_table(url, version, s).file_uris())


# ---- memory ---------------------------------------------------------------------------------
def spark_driver_pid(spark) -> int:
    """The pid of a session's driver JVM (asked of the JVM itself, not guessed from `ps`)."""
    return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())  # noqa: SLF001


def stack_memory(stack, spark=None, services: list[str] | None = None) -> dict:
    """Resident memory (MiB) of a stack's running services and of a Spark driver, by real pids.

    ``stack`` is the composition root's stack (``jornada.services.stack()``); ``services``
    limits the services counted (default: every running one). Returns ``{"services": {name:
    {"pid", "rss_mb"}}, "spark_driver": {"pid", "rss_mb"}, "total_mb"}``. A service's figure
    covers its whole process tree; the driver's covers the JVM and its Python workers.
    """
    from ..stack.runtime import group_rss_mb

    rows = {}
    for svc in stack.select(services):
        pid = stack.running_pid(svc)
        if pid:
            rows[svc.name] = {"pid": pid, "rss_mb": round(group_rss_mb(pid), 1)}
    out: dict = {"services": rows}
    total = sum(r["rss_mb"] for r in rows.values())
    if spark is not None:
        pid = spark_driver_pid(spark)
        out["spark_driver"] = {"pid": pid, "rss_mb": round(group_rss_mb(pid), 1)}
        total += out["spark_driver"]["rss_mb"]
    out["total_mb"] = round(total, 1)
    return out
