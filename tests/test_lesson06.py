"""Lesson 06 (the lakehouse: Spark + Delta on S3): what the lesson recorded, checked against the
Delta tables it left on the store, re-read here with delta-rs (no Spark), and against the stack.

The recorded values come from the session-wide course run (fixture ``records``); the lesson's
tables stay under s3a://silver/lesson06/ until its next run. Timings are recorded, never asserted.
"""

from __future__ import annotations

import pytest

from jornada import s3 as storage
from jornada.lake import bronze, delta_tools, gold, silver

pytestmark = pytest.mark.notebooks

LESSON = "06_the_lakehouse_with_delta"
LAKE = "s3a://silver/lesson06"
MEMORY_BUDGET_MB = 4096


@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_the_lake_buckets_exist(lesson):
    assert set(storage.BUCKETS) <= set(lesson["buckets"])
    assert lesson["v0_actions"] == ["add", "commitInfo", "metaData", "protocol"]


def test_the_lake_pipeline_made_silver_equal_to_the_oltp(lesson):
    """Section 2 ran the library's refresh (bronze → silver → gate → gold): silver held the OLTP's
    rows, table by table, and gold one feature row per order; re-read here from the lake."""
    oltp = lesson["oltp_rows"]
    assert set(oltp) == set(bronze.tables()) and oltp["pedidos"] > 0 and oltp["itens_pedidos"] > oltp["pedidos"]
    assert lesson["silver_rows"] == oltp
    assert sorted(lesson["silver_equal_tables"]) == sorted(oltp)     # content digests, not only counts
    assert lesson["gold_rows"][gold.FEATURES] == oltp["pedidos"]
    assert lesson["gold_rows"][gold.REVENUE] > 0
    # lesson 07 re-creates the OLTP but not the course's lake: silver still holds lesson 06's orders
    assert silver.delta_table("pedidos").to_pyarrow_dataset().count_rows() == oltp["pedidos"]


def test_a_column_added_in_the_oltp_reached_silver_through_cdc(lesson):
    """Section 9: ALTER TABLE pedidos ADD COLUMN canal, a few orders updated; the update events in
    bronze carry the field, silver.pedidos gained the column with exactly those values."""
    n = lesson["evolve_orders"]
    assert "canal" in lesson["evolved_columns_silver"]
    where = lesson["evolve_event"]
    events = silver.delta_table("pedidos", bucket=bronze.BUCKET).to_pyarrow_table(
        columns=["topic", "partition", "offset", "op", "lsn", "after"]).to_pylist()
    event = next(e for e in events if (e["topic"], e["partition"], e["offset"]) ==
                 (where["topic"], where["partition"], where["offset"]))
    assert (event["op"], event["lsn"]) == ("u", where["lsn"])
    # the lake's snapshot (lesson 02 re-created the OLTP) emptied bronze: these are section 9's
    assert sum(1 for e in events if e["op"] == "u" and '"canal":' in (e["after"] or "")) == n
    rows = silver.delta_table("pedidos").to_pyarrow_table(columns=["id", "canal"]).to_pylist()
    channels = sorted({c: sum(1 for r in rows if r["canal"] == c) for c in {r["canal"] for r in rows} - {None}}.items())
    assert [list(c) for c in channels] == [list(c) for c in lesson["evolve_channels"]]
    assert sum(n for _, n in channels) == n and {c for c, _ in channels} <= {"app", "web"}
    assert lesson["evolve_event_after"]["canal"] in {"app", "web"}


def test_history_and_time_travel(lesson):
    assert lesson["history_operations"] == ["WRITE", "UPDATE"]
    # the bad UPDATE zeroed one order in ten: revenue fell; version 0 read by number and by time agree
    assert lesson["revenue_now"] < lesson["revenue_v0"]
    assert lesson["revenue_at_v0_time"] == lesson["revenue_v0"]


def test_restore_reemitted_the_rows_downstream(lesson):
    rows = lesson["orders_rows"]
    changes = delta_tools.delta_table(f"{LAKE}/pedidos_changes").to_pandas()
    counted = changes.groupby(["_commit_version", "_change_type"]).size()
    assert {f"{v}:{t}": int(n) for (v, t), n in counted.items()} == lesson["changes"]
    assert counted[(0, "insert")] == rows
    # the RESTORE (version 2) sent every row of the swapped files again: a delete and an insert each
    assert counted[(2, "insert")] == counted[(2, "delete")] == rows
    assert counted[(1, "update_preimage")] == counted[(1, "update_postimage")] == rows // 10
    assert lesson["revenue_after_restore"] == lesson["revenue_v0"]
    table = delta_tools.delta_table(f"{LAKE}/pedidos")
    assert [h["operation"] for h in sorted(table.history(), key=lambda h: h["version"])] == \
        ["WRITE", "UPDATE", "RESTORE"]
    assert float(table.to_pandas()["valor_total"].sum()) == pytest.approx(lesson["revenue_v0"], abs=0.005)


def test_vacuum_ended_time_travel(lesson):
    assert lesson["files_after_vacuum"] < lesson["files_before_vacuum"]
    assert delta_tools.table_files(f"{LAKE}/pedidos")["data_files"] == lesson["files_after_vacuum"]
    assert lesson["count_v1_after_vacuum"] == lesson["orders_rows"]   # statistics still answer
    assert lesson["sum_v1_error"] == "FAILED_READ_FILE.FILE_NOT_EXIST"
    with pytest.raises(Exception, match="(?i)not found|no such|does not exist|404"):
        delta_tools.delta_table(f"{LAKE}/pedidos", version=1).to_pandas()   # delta-rs cannot either


def test_optimize_reduced_the_files(lesson):
    small = f"{LAKE}/small_files"
    assert lesson["files_after_optimize"] == delta_tools.active_files(small) == 1
    before = len(delta_tools.delta_table(small).history()) - 2      # the version before OPTIMIZE
    assert lesson["files_before_optimize"] == delta_tools.active_files(small, version=before) == before + 1
    assert lesson["stored_after_optimize"] == delta_tools.table_files(small)["data_files"] == \
        lesson["files_before_optimize"] + 1
    ops = {h["operation"] for h in delta_tools.delta_table(small).history()}
    assert "OPTIMIZE" in ops


def test_partitioning_by_timestamp_makes_a_file_per_order(lesson):
    by_ts = delta_tools.delta_table(f"{LAKE}/by_timestamp").to_pandas()
    assert len(by_ts) == lesson["partition_orders"]
    assert lesson["files_by_timestamp"] == by_ts["dt_venda"].nunique() == \
        delta_tools.table_files(f"{LAKE}/by_timestamp")["data_files"]
    months = delta_tools.delta_table(f"{LAKE}/by_month").to_pandas()["month"].nunique()
    assert lesson["files_by_month"] == months == delta_tools.table_files(f"{LAKE}/by_month")["data_files"]
    assert lesson["files_by_timestamp"] > 20 * lesson["files_by_month"]


def test_schema_evolved_only_on_request(lesson):
    assert lesson["schema_enforcement"] == "DELTA_METADATA_MISMATCH"
    assert lesson["evolved_columns"] == ["id", "id_pessoa", "dt_venda", "valor_total", "canal"]
    evolving = delta_tools.delta_table(f"{LAKE}/evolving").to_pandas()
    assert evolving["canal"].isna().sum() == 5 and (evolving["canal"] == "app").sum() == 2


def test_delta_rs_read_the_same_table(lesson):
    assert lesson["delta_rs_version"] == 2
    assert lesson["delta_rs_rows"] == lesson["orders_rows"]
    assert lesson["delta_rs_revenue"] == pytest.approx(lesson["revenue_v0"], abs=0.005)


def test_the_lessons_stack_and_a_spark_session_fit_in_4_gb(lesson, stack_up):
    """Measured by the lesson on real pids: the services' pids are the ones the stack runs now,
    the driver's was a JVM big enough to be Spark's (a 1 GB heap), and the sum stays in budget."""
    memory = lesson["memory"]
    assert set(memory["services"]) == set(lesson["lesson_services"]) == {"oltp", "kafka", "connect", "s3"}
    for name, row in memory["services"].items():
        assert row["pid"] == stack_up.running_pid(stack_up.services[name]), name
        assert row["rss_mb"] > 20, (name, row)
    assert 300 < memory["spark_driver"]["rss_mb"] < 3000, memory["spark_driver"]
    parts = sum(r["rss_mb"] for r in memory["services"].values()) + memory["spark_driver"]["rss_mb"]
    assert memory["total_mb"] == pytest.approx(parts, abs=0.5)
    assert memory["total_mb"] <= MEMORY_BUDGET_MB, memory
    # `jornada stack up s3 connect` starts exactly what the lesson needs
    assert lesson["stack_up_starts"] == ["oltp", "kafka", "connect", "s3"]

