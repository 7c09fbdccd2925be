"""Lesson 03 (change data capture): what the lesson and its solution recorded
(`jornada check` itself: test_graders.py).

The recorded numbers come from the session-wide course run (fixture ``records``), so what this
file asserts is what `make course` reports. Latencies are measured, never asserted beyond being
numbers; counts that follow from the lesson's deterministic dataset are asserted exactly.
"""

from __future__ import annotations

import math

import pytest


LESSON = "03_change_data_capture"
# kafka-python 3.0 still loads its protocol schemas with a deprecated importlib API
pytestmark = [pytest.mark.notebooks, pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning")]



@pytest.fixture(scope="module")
def lesson(records):
    rec = records.get(LESSON)
    assert rec, f"notebooks/{LESSON}.ipynb recorded nothing (did it fail? see test_notebooks)"
    return rec


def test_snapshot_reads_every_existing_row_once(lesson):
    from jornada.generators import catalogue_products

    by_table = lesson["snapshot_by_table"]
    # the lesson's shop: the 9 seeded categories, the catalogue, its customers + the 20 seed ones
    assert by_table["categorias"]["rows"] == 9
    assert by_table["produtos"]["rows"] == len(catalogue_products()) == 9 * 20
    assert by_table["pessoas"]["rows"] == lesson["n_customers"] + 20
    assert {t: v["events"] for t, v in by_table.items()} == {t: v["rows"] for t, v in by_table.items()}, \
        "one op=r event per row"
    assert lesson["snapshot_events"] == lesson["snapshot_rows"] == sum(v["rows"] for v in by_table.values())
    assert lesson["snapshot_ops"] == ["r"]


def test_streaming_shows_create_update_delete_and_a_tombstone(lesson):
    assert lesson["ops_seen"] == {"c": 3, "u": 1, "d": 1}
    ids = lesson["change_ids"]
    cat, caderno, caneta = ids["categoria"], ids["caderno"], ids["caneta"]
    # the events as they sit on the topics, in offset order: the delete is followed by its tombstone
    assert lesson["change_events"] == [
        ["categorias", "c", cat, False],
        ["produtos", "c", caderno, False], ["produtos", "c", caneta, False],
        ["produtos", "u", caderno, False], ["produtos", "d", caneta, False],
        ["produtos", None, caneta, True],
    ]


def test_schema_change_reaches_the_events(lesson):
    event = lesson["schema_change_event"]
    assert event["key"] == lesson["change_ids"]["caderno"] and event["op"] == "u"
    # the column Debezium had never seen arrives in the very next event: null before, the value after
    assert event["diff"]["peso_kg"] == ["None", "0.850"], event["diff"]


def test_publication_trap_a_new_table_is_not_captured(lesson):
    from jornada import cdc

    published = lesson["trap_publication_tables"]
    assert "cupons" not in published and set(cdc.captured_tables()) <= set(published)
    assert lesson["trap_cupons_events"] == 0 and lesson["trap_cupons_start_offsets"] == {}


def test_least_privilege_replication_role(lesson, oltp_conn):
    from jornada.config import settings

    assert lesson["debezium_role"]["rolsuper"] is False
    assert lesson["debezium_role"]["rolreplication"] is True
    # and the role as it is now in pg_roles (the stack's own setup made it)
    live = oltp_conn.execute("select rolsuper, rolreplication, rolcanlogin from pg_roles where rolname = %s",
                             (settings().debezium_user,)).fetchone()
    assert live == (False, True, True)


def test_restart_loses_nothing(lesson):
    assert lesson["restart_missing"] == 0


def test_heartbeat_frees_the_pinned_wal(lesson):
    lag = lesson["slot_lag_bytes"]
    assert lag["pinned"] > lag["before"], "WAL on an uncaptured table must show up as slot lag"
    lsn = lesson["slot_lsn"]
    # the slot's confirmed position: stuck below the filler, then past it thanks to the heartbeat
    assert _lsn(lsn["confirmed_before"]) <= _lsn(lsn["confirmed_pinned"]) < _lsn(lsn["filler_written_up_to"]), lsn
    assert _lsn(lsn["confirmed_after_heartbeat"]) >= _lsn(lsn["filler_written_up_to"]), lsn
    assert lag["after_heartbeat"] < lag["pinned"]


def _lsn(text: str) -> int:
    """A Postgres LSN ('16/B374D848') as the byte position it names."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def test_every_streamed_order_reaches_the_topic(lesson):
    assert lesson["stream_orders_written"] == lesson["stream_orders_requested"] > 0
    assert lesson["stream_order_ids_on_topic"] == lesson["stream_orders_written"]
    assert lesson["stream_missing"] == 0


def test_latency_was_measured(lesson):
    # measured live: only sanity, never a speed threshold
    for key in ("latency_p50_ms", "latency_p95_ms"):
        assert isinstance(lesson[key], (int, float)) and math.isfinite(lesson[key])
    assert lesson["latency_p50_ms"] <= lesson["latency_p95_ms"]


def test_consumer_lag_is_zero_after_consuming(lesson):
    assert lesson["consumer_lag_before_commit"] >= lesson["stream_orders_written"]
    assert lesson["consumer_lag_after"] == 0



# ---- the checks themselves, without the grader (no service needed for tasks 1 and 2) --------
def test_planted_streams_are_deterministic():
    from jornada.checks import lesson03

    a, b = lesson03.planted_events(), lesson03.planted_events()
    assert a.equals(b)
    (s1, want1), (s2, want2) = lesson03.planted_pessoas_stream(), lesson03.planted_pessoas_stream()
    assert s1.equals(s2) and want1 == want2
    assert len(want1) == 6 and (s1["op"] == "r").any() and s1["tombstone"].any()


def test_count_ops_hints_for_tombstones_counted_as_deletes():
    import pandas as pd

    from jornada.checks import TaskFailed, lesson03

    def tombstones_as_deletes(events):
        e = events.assign(table=events["topic"].str.rsplit(".", n=1).str[-1],
                          op=events["op"].fillna("d"))
        return pd.crosstab(e["table"], e["op"]).reindex(columns=["c", "u", "d"], fill_value=0)

    with pytest.raises(TaskFailed, match="tombstones have no op — did you filter on op = 'd'"):
        lesson03.task_count_ops(tombstones_as_deletes)


def test_rebuild_state_hint_for_kept_deleted_rows():
    import pandas as pd

    from jornada.checks import TaskFailed, lesson03

    def never_delete(events):
        state = {}
        for row in events.sort_values("offset").itertuples():
            if row.op in ("r", "c", "u"):
                state[row.key["id"]] = row.after
        return pd.DataFrame(list(state.values())).set_index("id")

    with pytest.raises(TaskFailed, match="did you drop keys whose last event is op = 'd'"):
        lesson03.task_rebuild_state(never_delete)


def test_an_untouched_blank_propagates_not_implemented():
    from jornada.checks import lesson03

    def blank(events):
        raise NotImplementedError("your turn")

    for task in (lesson03.task_count_ops, lesson03.task_rebuild_state):
        with pytest.raises(NotImplementedError):
            task(blank)



def test_capture_check_teaches_the_publication_trap_and_cleans_up(stack_up):
    from psycopg import sql

    from jornada import cdc
    from jornada.checks import TaskFailed, lesson03
    from jornada.config import settings
    from jornada.db import connect

    publication = lesson03.publication_of_connector()

    def forgot_the_publication(conn, table):
        t = sql.Identifier(table)
        conn.execute(sql.SQL("alter table {} replica identity full").format(t))
        role = sql.Identifier(settings().debezium_user)
        conn.execute(sql.SQL("grant select on {} to {}").format(t, role))

    with pytest.raises(TaskFailed, match=f"not in publication {publication} — this is the publication trap"):
        lesson03.task_add_table_to_capture(forgot_the_publication)
    with connect("oltp") as conn:
        assert conn.execute("select to_regclass('public.cupons')").fetchone()[0] is None, \
            "the check drops the table it created"
    assert not [c for c in cdc.connectors() if c.startswith("lesson03-")]


def test_capture_check_teaches_the_missing_grant(stack_up):
    from psycopg import sql

    from jornada.checks import TaskFailed, lesson03

    publication = lesson03.publication_of_connector()

    def no_grant(conn, table):
        t = sql.Identifier(table)
        conn.execute(sql.SQL("alter table {} replica identity full").format(t))
        conn.execute(sql.SQL("alter publication {} add table {}").format(sql.Identifier(publication), t))

    with pytest.raises(TaskFailed, match="cannot SELECT cupons: streaming would work, but a snapshot"):
        lesson03.task_add_table_to_capture(no_grant)
