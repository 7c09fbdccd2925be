"""Checks of lesson 06 (the lakehouse: Spark + Delta Lake on S3). Each task is judged on planted,
known Delta tables under ``s3a://silver/exercises06/`` (removed and re-made by every check).

- task_silver_merge: ``merge_changes(spark, target_url, changes)`` — the silver MERGE of a batch
  of CDC changes: the latest change per key (by LSN), ``source.lsn > target.lsn``, deletes.
  Judged on a batch with two changes of one key, a replayed old change and a delete, then the
  same batch applied again (idempotent).
- task_undo_bad_update: ``undo_bad_update(spark, url)`` — find the bad UPDATE in the history and
  RESTORE the version just before it; returns that version.
- task_compact: ``compact(spark, url)`` — OPTIMIZE a table of many small files; returns the
  number of files of the current version before and after.
- task_reconcile: ``mismatched_months(spark, gold_url)`` — the months where a gold table of
  revenue by month disagrees with the OLTP; one month is planted wrong.

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

from decimal import Decimal

from . import TaskFailed, call, expect, passed

RESULTS: dict[str, dict] = {}

CHECK_SCRATCH: tuple[str, ...] = ()
CHECK_DATA = (
    "`jornada check 06` reads the OLTP (never writes it) and writes only throw-away Delta tables "
    "under s3a://silver/exercises06/, re-made by every run; lesson 06's own tables are not touched")
BASE = "s3a://silver/exercises06"


def _url(name: str) -> str:
    return f"{BASE}/{name}"


def _fresh(name: str) -> str:
    from ..lake import delta_tools

    url = _url(name)
    delta_tools.remove_table(url)
    return url


# ---- task 1: the silver MERGE ------------------------------------------------------------------
CHANGE_COLUMNS = "id INT, nome STRING, valor DECIMAL(10,2), op STRING, lsn BIGINT"
TARGET_ROWS = [(1, "ana", Decimal("10.00"), 100), (2, "bia", Decimal("20.00"), 100),
               (3, "caio", Decimal("30.00"), 500)]
BATCH = [
    (1, "ana", Decimal("11.00"), "u", 200),     # two changes of key 1 in one batch: the later wins
    (1, "ana", Decimal("12.00"), "u", 300),
    (2, "bia", None, "d", 250),                 # a delete
    (3, "caio", Decimal("0.00"), "u", 400),     # an old change replayed: target has lsn 500
    (4, "davi", Decimal("40.00"), "c", 260),    # a new row
]
EXPECTED_SILVER = {1: ("ana", Decimal("12.00"), 300), 3: ("caio", Decimal("30.00"), 500),
                   4: ("davi", Decimal("40.00"), 260)}


def _silver_state(spark, url: str) -> dict:
    return {r["id"]: (r["nome"], r["valor"], r["lsn"])
            for r in spark.read.format("delta").load(url).collect()}


def task_silver_merge(fn, spark) -> None:
    """fn(spark, target_url, changes) applies a batch of changes to the silver table in place."""
    url = _fresh("silver_merge")
    spark.createDataFrame(TARGET_ROWS, "id INT, nome STRING, valor DECIMAL(10,2), lsn BIGINT") \
        .coalesce(1).write.format("delta").save(url)
    changes = spark.createDataFrame(BATCH, CHANGE_COLUMNS)
    try:
        call(fn, spark, url, changes)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - Spark's own message, shortened, with the cause
        text = str(exc)
        if "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW" in text or "multiple source rows" in text:
            raise TaskFailed("MERGE failed: several source rows matched one target row (key 1 changed twice "
                             "in the batch). Keep the LATEST change per key first — a window "
                             "row_number() over (partition by id order by lsn desc) = 1") from None
        raise
    got = _silver_state(spark, url)
    if 2 in got:
        raise TaskFailed(f"key 2 is still there {got[2]}: its change has op = 'd' — WHEN MATCHED AND s.op = 'd' "
                         "THEN DELETE (and never insert a delete you have not seen: WHEN NOT MATCHED AND "
                         "s.op != 'd')")
    if got.get(3, (None, None, None))[2] == 400:
        raise TaskFailed("key 3 was overwritten by a change with lsn 400 while silver held lsn 500: a replayed or "
                         "late event went back in time. Guard every update and delete with s.lsn > t.lsn")
    if got.get(1, (None, None, None))[2] == 200:
        raise TaskFailed("key 1 ended with its EARLIER change (lsn 200): keep the change with the highest lsn "
                         "per key (order by lsn DESC)")
    expect(got == EXPECTED_SILVER, f"silver after the batch: {got}; expected {EXPECTED_SILVER}")
    call(fn, spark, url, changes)                      # a batch re-run after a restart
    again = _silver_state(spark, url)
    expect(again == EXPECTED_SILVER, f"applying the same batch again changed silver to {again}: a foreachBatch "
                                     "MERGE must be idempotent (the LSN guard makes it so)")
    RESULTS["silver_merge"] = {"rows": len(got)}
    passed("silver_merge", "latest change per key, a replay ignored, a delete applied, idempotent")


# ---- task 2: undo a bad update -------------------------------------------------------------------
def _plant_history(spark, url: str) -> None:
    df = spark.range(1, 101).selectExpr("CAST(id AS INT) id", "CAST(id * 10 AS DECIMAL(10,2)) valor_total")
    df.where("id <= 60").coalesce(1).write.format("delta").save(url)                   # v0
    df.where("id > 60").coalesce(1).write.format("delta").mode("append").save(url)     # v1
    spark.sql(f"UPDATE delta.`{url}` SET valor_total = 0 WHERE id % 2 = 0")            # v2: the bad one


def task_undo_bad_update(fn, spark) -> None:
    """fn(spark, url) -> the version it restored the table to (the one before the bad UPDATE)."""
    url = _fresh("undo")
    _plant_history(spark, url)
    got = call(fn, spark, url)
    last = spark.sql(f"DESCRIBE HISTORY delta.`{url}` LIMIT 1").first()
    expect(last["operation"] == "RESTORE",
           f"the table's last commit is {last['operation']}, not RESTORE: undo with "
           "RESTORE TABLE delta.`<url>` TO VERSION AS OF n (a new commit; the history keeps the mistake)")
    now = spark.read.format("delta").load(url).selectExpr("count(*) n", "sum(valor_total) s").first()
    if now["n"] == 60:
        raise TaskFailed("you restored version 0: the 40 rows appended in version 1 are gone too. Restore the "
                         "version just BEFORE the UPDATE — find it in DESCRIBE HISTORY (the UPDATE's version - 1)")
    expect((now["n"], now["s"]) == (100, Decimal("50500.00")),
           f"after your RESTORE: {now['n']} rows, sum {now['s']}; version 1 had 100 rows, sum 50500.00")
    expect(got == 1, f"you returned {got!r}: return the version you restored to (1)")
    RESULTS["undo_bad_update"] = {"restored_to": got}
    passed("undo_bad_update", "RESTORE to version 1, the one before the UPDATE")


# ---- task 3: compact small files -----------------------------------------------------------------
SMALL_WRITES = 8


def task_compact(fn, spark) -> None:
    """fn(spark, url) -> {"before": files, "after": files} of the current version, around OPTIMIZE."""
    from ..lake import delta_tools

    url = _fresh("compact")
    df = spark.range(0, 800).selectExpr("CAST(id AS INT) id", "CAST(id % 37 AS BIGINT) id_pessoa")
    for i in range(SMALL_WRITES):
        df.where(f"id % {SMALL_WRITES} = {i}").coalesce(1).write.format("delta").mode("append").save(url)
    got = call(fn, spark, url)
    expect(isinstance(got, dict) and {"before", "after"} <= set(got),
           f"compact() must return {{'before': n, 'after': m}}, got {got!r}")
    ops = [r["operation"] for r in spark.sql(f"DESCRIBE HISTORY delta.`{url}`").collect()]
    expect("OPTIMIZE" in ops, f"no OPTIMIZE in the table's history {ops}: OPTIMIZE delta.`<url>` "
                              "[ZORDER BY (col)] compacts small files")
    actual = delta_tools.active_files(url)
    stored = delta_tools.table_files(url)["data_files"]
    if got["after"] == stored and stored != actual:
        raise TaskFailed(f"after = {got['after']} counts the objects in the bucket: OPTIMIZE writes new files and "
                         "only marks the old ones removed in the log (they stay for time travel until VACUUM). "
                         "Count the files of the current version: DESCRIBE DETAIL's numFiles")
    expect((got["before"], got["after"]) == (SMALL_WRITES, actual),
           f"you returned {got}; the table had {SMALL_WRITES} files before and has {actual} now")
    expect(actual == 1, f"the current version still has {actual} files: OPTIMIZE the whole table")
    total = spark.read.format("delta").load(url).selectExpr("count(*)").first()[0]
    expect(total == 800, f"the table holds {total} rows after your compaction, not 800: OPTIMIZE never changes data")
    RESULTS["compact"] = {"before": SMALL_WRITES, "after": actual, "stored": stored}
    passed("compact", f"{SMALL_WRITES} files → {actual} (the bucket still holds {stored} until VACUUM)")


# ---- task 4: reconcile gold with the OLTP --------------------------------------------------------
def _plant_gold(spark, url: str) -> str:
    """A gold table of revenue by month built from the OLTP, with one month's revenue off by 0.01."""
    from ..db import query_df

    pdf = query_df("select to_char(date_trunc('month', dt_venda), 'YYYY-MM') as month, count(*) as orders, "
                   "sum(valor_total) as revenue from pedidos group by 1 order by 1")
    if len(pdf) < 2:
        raise TaskFailed("the OLTP has fewer than two months of orders: run lesson 06's setup cell first")
    wrong = str(pdf["month"].iloc[len(pdf) // 2])
    pdf.loc[pdf["month"] == wrong, "revenue"] = pdf.loc[pdf["month"] == wrong, "revenue"].map(
        lambda v: Decimal(v) + Decimal("0.01"))
    rows = [(m, int(o), Decimal(r)) for m, o, r in pdf.itertuples(index=False)]
    spark.createDataFrame(rows, "month STRING, orders BIGINT, revenue DECIMAL(14,2)") \
        .coalesce(1).write.format("delta").save(url)
    return wrong


def task_reconcile(fn, spark) -> None:
    """fn(spark, gold_url) -> sorted months ('YYYY-MM') where gold's revenue differs from the OLTP's."""
    url = _fresh("gold_revenue")
    wrong = _plant_gold(spark, url)
    got = call(fn, spark, url)
    expect(isinstance(got, (list, tuple)), f"mismatched_months() must return a list of 'YYYY-MM', got {got!r}")
    got = sorted(str(m) for m in got)
    if not got:
        raise TaskFailed("you found no mismatch, but one month's revenue is off by one cent while its order "
                         "count agrees: compare sum(valor_total) per month, not only count(*) — and compare "
                         "decimals exactly, not rounded floats")
    expect(got == [wrong], f"you returned {got}; only {wrong} differs — group the OLTP by the sale's month "
                           "(date_trunc('month', dt_venda)) and compare each month's revenue exactly")
    RESULTS["reconcile"] = {"mismatched": got}
    passed("reconcile", f"{wrong}: gold and the OLTP differ by 0.01")
