"""Applying Debezium's change events to the raw mirror, exactly once in effect."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Callable

from .. import cdc, kafka
from ..config import Settings, settings as load_settings
from ..db import connect
from .mirror import (CONSUMER_GROUP, LOADS_TABLE, META_COLUMNS, OFFSETS_TABLE, RAW, SnapshotNeeded,
                     SourceReset, TableDef, _ident, _lock_and_stamp, _raw_columns, oltp_catalog,
                     refresh_geohash_uf, reset_warehouse, source_changes, tables, topic_of)
from .snapshot import extract_snapshot


# ---- CDC apply -------------------------------------------------------------------------------
def _json_expr(col: str, typ: str, src: str = "e.after") -> str:
    """SQL that turns Debezium's JSON value of a column back into the column's type.

    Connector settings (stack/register-liga-oltp.json): timestamps are microseconds since the
    epoch, dates are days since the epoch, numerics are exact strings, text is text.
    """
    v = f"({src} ->> '{col}')"
    if typ == "timestamp without time zone" or typ.startswith("timestamp(") and "without" in typ:
        return (f"(timestamp '1970-01-01' + ({v}::bigint / 1000000) * interval '1 second'"
                f" + mod({v}::bigint, 1000000) * interval '1 microsecond')")
    if typ == "date":
        return f"(date '1970-01-01' + {v}::integer)"
    if typ.startswith("timestamp with"):
        return f"{v}::timestamptz"
    return f"{v}::{typ}"


@dataclass
class _Prepared:
    table: TableDef
    delete_sql: str
    upsert_sql: str


def _prepare(t: TableDef) -> _Prepared:
    tbl = f"{RAW}.{_ident(t.name)}"
    key_match = " and ".join(f"r.{_ident(c)} = {_json_expr(c, typ, 'e.key')}"
                             for c, typ in t.columns if c in t.pk)
    delete_sql = (f"delete from {tbl} r using _cdc_in e where e.tbl = %(tbl)s and e.op = 'd' "
                  f"and {key_match} and (r._offset is null or r._offset < e.ord)")
    cols = t.column_names + ["_op", "_offset", "_lsn", "_source_ts", "_loaded_at"]
    exprs = [_json_expr(c, typ) for c, typ in t.columns]
    exprs += ["e.op", "e.ord", "e.lsn", "to_timestamp(e.ts_ms / 1000.0)", "%(stamp)s"]
    updates = ", ".join(f"{_ident(c)} = excluded.{_ident(c)}" for c in cols if c not in t.pk)
    data_cols = [c for c in t.column_names if c not in t.pk]
    changed = (f"({', '.join('r.' + _ident(c) for c in data_cols)}) is distinct from "
               f"({', '.join('excluded.' + _ident(c) for c in data_cols)})")
    # only a NEWER event (offset) with DIFFERENT content rewrites a row: a re-delivered event
    # changes nothing — not even the load stamp, so dbt's incremental run does not redo it
    upsert_sql = (f"insert into {tbl} as r ({', '.join(_ident(c) for c in cols)}) "
                  f"select {', '.join(exprs)} from _cdc_in e where e.tbl = %(tbl)s and e.op <> 'd' "
                  f"on conflict ({', '.join(_ident(c) for c in t.pk)}) do update set {updates} "
                  f"where (r._offset is null or r._offset < excluded._offset) and {changed}")
    return _Prepared(t, delete_sql, upsert_sql)


@dataclass
class CdcStats:
    events: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    batches: int = 0
    applied: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    lag: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"events": {t: dict(ops) for t, ops in self.events.items()},
                "batches": self.batches, "applied": self.applied, "skipped": self.skipped,
                "seconds": round(time.monotonic() - self.started, 2), "lag": self.lag}


def stored_offsets(s: Settings | None = None) -> dict[tuple[str, int], int]:
    s = s or load_settings()
    with connect(s.olap) as olap:
        exists = olap.execute("select to_regclass(%s)", (OFFSETS_TABLE,)).fetchone()[0]
        if not exists:
            return {}
        return {(t, p): o for t, p, o in olap.execute(
            f"select topic, partition, next_offset from {OFFSETS_TABLE}")}


def apply_cdc(s: Settings | None = None, *, max_seconds: float | None = 120,
              follow: bool = False, stop: threading.Event | None = None,
              idle_s: float = 1.0, max_records: int = 20_000,
              log: Callable[[str], None] = lambda m: None) -> dict:
    """Apply Debezium's change events to the raw mirror (see the module docstring).

    Default (``follow=False``): drain — wait until Kafka holds every change committed in the
    OLTP before the call (:func:`jornada.cdc.wait_for_capture`), then stop once every topic is at the
    end offset it had at that moment and nothing new arrived for ``idle_s``. ``follow=True``:
    keep applying until ``stop`` is set or ``max_seconds`` pass (the freshness benchmark, a
    long-running consumer). Raises :class:`SnapshotNeeded` when the stored positions cannot continue the
    topics (never snapshotted, topic recreated, or events already deleted by retention).
    """
    from kafka.structs import OffsetAndMetadata

    s = s or load_settings()
    stats = CdcStats()
    positions = stored_offsets(s)
    if not positions:
        raise SnapshotNeeded("the warehouse has no CDC positions — run `extract_snapshot()` "
                             "(`jornada warehouse snapshot`) first, with Kafka up")
    topic_table = {topic_of(t): t for t in tables()}
    with connect(s.oltp) as oltp, connect(s.olap) as olap:
        reset = source_changes(oltp, olap)
    if reset:
        raise SourceReset(f"OLTP tables {reset} were re-created since the last snapshot (`jornada db "
                          "init --reset`?): their changes cannot continue the mirror — the warehouse "
                          "must be reset and snapshotted (`jornada warehouse load` does both)")
    if not follow:
        # the drain's cut-off: everything committed in the OLTP before now is in Kafka
        stats.lag["cutoff"] = {"waited_s": round(cdc.wait_for_capture(s=s), 2)}
    consumer = kafka.consumer(s, group=CONSUMER_GROUP, client_id="jornada-warehouse",
                              max_partition_fetch_bytes=4 * 1024 * 1024)
    try:
        with connect(s.oltp) as oltp:
            defs = oltp_catalog(oltp)
        with connect(s.olap) as olap:
            for t in defs.values():
                have = [tuple(r) for r in _raw_columns(olap, t.name)]
                if have != t.columns + [(c, typ) for c, typ, _ in META_COLUMNS]:
                    raise SnapshotNeeded(f"raw.{t.name} does not have the OLTP's columns (new table "
                                         "or schema change) — run a new snapshot")
        prepared = {t: _prepare(d) for t, d in defs.items()}
        parts = kafka.partitions(consumer, topic_table)
        begins = consumer.beginning_offsets(parts) if parts else {}
        ends = consumer.end_offsets(parts) if parts else {}
        for tp in parts:
            pos = positions.get((tp.topic, tp.partition), 0)
            if pos > ends[tp]:
                raise SnapshotNeeded(f"{tp.topic}[{tp.partition}]: the warehouse is at offset {pos} "
                                     f"but the topic ends at {ends[tp]} (topic recreated?) — run a new "
                                     "snapshot: `jornada warehouse snapshot`")
            if pos < begins[tp]:
                raise SnapshotNeeded(f"{tp.topic}[{tp.partition}]: events {pos}..{begins[tp] - 1} were "
                                     "already deleted by Kafka's retention — run a new snapshot")
        assigned = set(parts)
        if parts:
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, positions.get((tp.topic, tp.partition), 0))
        target = dict(ends)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_event = time.monotonic()
        last_refresh = time.monotonic()
        with connect(s.olap) as olap:
            olap.execute("create temporary table if not exists _cdc_in (tbl text, ord bigint, "
                         "lsn bigint, op char(1), ts_ms bigint, key jsonb, after jsonb) "
                         "on commit delete rows")
            olap.commit()
            while True:
                if stop is not None and stop.is_set():
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if follow and time.monotonic() - last_refresh > 5:
                    # topics created after we started (a table's first event) join the assignment
                    last_refresh = time.monotonic()
                    new = [tp for tp in kafka.partitions(consumer, topic_table) if tp not in assigned]
                    if new:
                        assigned |= set(new)
                        consumer.assign(sorted(assigned, key=lambda x: (x.topic, x.partition)))
                        for tp in new:
                            consumer.seek(tp, positions.get((tp.topic, tp.partition), 0))
                if not assigned:
                    if not follow:
                        break
                    time.sleep(0.2)
                    continue
                batch = consumer.poll(timeout_ms=200, max_records=max_records)
                if not batch:
                    caught_up = all(consumer.position(tp) >= target.get(tp, 0) for tp in assigned)
                    if not follow and caught_up and time.monotonic() - last_event >= idle_s:
                        break
                    continue
                last_event = time.monotonic()
                next_offsets = _apply_batch(olap, batch, topic_table, prepared, stats)
                olap.commit()                      # rows + positions, atomically
                positions.update({(tp.topic, tp.partition): o for tp, o in next_offsets.items()})
                try:                               # then Kafka's view, for monitoring only
                    consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in next_offsets.items()})
                except Exception as exc:  # noqa: BLE001 - the warehouse already holds the truth
                    log(f"warning: Kafka offset commit failed ({type(exc).__name__}); positions are "
                        "safe in raw._cdc_offsets")
            ends = consumer.end_offsets(list(assigned)) if assigned else {}
            stats.lag.update({f"{tp.topic}[{tp.partition}]": ends[tp] - consumer.position(tp)
                              for tp in assigned})
            if stats.applied:
                olap.execute(f"insert into {LOADS_TABLE} (kind, started_at, rows, detail) values "
                             "('cdc', now() - make_interval(secs => %s), %s, %s)",
                             (time.monotonic() - stats.started,
                              json.dumps({t: sum(o.values()) for t, o in stats.events.items()}),
                              json.dumps({"batches": stats.batches, "lag": stats.lag})))
                olap.commit()
    finally:
        consumer.close()
    if stats.applied and "auditoria_pedidos" in stats.events:
        refresh_geohash_uf(s)
    return stats.as_dict()


def _apply_batch(olap, batch: dict, topic_table: dict, prepared: dict, stats: CdcStats) -> dict:
    """Apply one poll's events in the caller's transaction; returns the next offset per partition."""
    latest: dict[tuple, tuple] = {}
    next_offsets = {}
    for tp, messages in batch.items():
        table = topic_table.get(tp.topic)
        for msg in messages:
            next_offsets[tp] = msg.offset + 1
            if table is None or msg.value is None:      # tombstone: the delete event came before
                stats.skipped += 1
                continue
            try:
                value = json.loads(msg.value)
                key = json.loads(msg.key) if msg.key is not None else None
            except ValueError:
                stats.skipped += 1
                continue
            op = value.get("op")
            if op not in ("c", "u", "d", "r") or key is None:
                stats.skipped += 1                      # truncate/message events: not mirrored
                continue
            source = value.get("source") or {}
            stats.events[table][op] += 1
            latest[(table, json.dumps(key, sort_keys=True))] = (
                table, msg.offset, source.get("lsn"), op, source.get("ts_ms") or value.get("ts_ms"),
                json.dumps(key), json.dumps(value.get("after")) if op != "d" else None)
    if latest:
        stamp = _lock_and_stamp(olap)
        with olap.cursor() as cur:
            with cur.copy("copy _cdc_in (tbl, ord, lsn, op, ts_ms, key, after) from stdin") as cp:
                for row in latest.values():
                    cp.write_row(row)
            for table in sorted({k[0] for k in latest}, key=tables().index):
                p = prepared[table]
                cur.execute(p.delete_sql, {"tbl": table})
                cur.execute(p.upsert_sql, {"tbl": table, "stamp": stamp})
            stats.applied += len(latest)
        stats.batches += 1
    with olap.cursor() as cur:
        cur.executemany(
            f"insert into {OFFSETS_TABLE} (topic, partition, next_offset, updated_at) "
            "values (%s, %s, %s, now()) on conflict (topic, partition) do update "
            "set next_offset = excluded.next_offset, updated_at = now()",
            [(tp.topic, tp.partition, o) for tp, o in next_offsets.items()])
    return next_offsets


def load(s: Settings | None = None, *, log: Callable[[str], None] = lambda m: None,
         max_seconds: float = 600) -> dict:
    """What the warehouse_load DAG runs: apply the change stream; snapshot when it cannot."""
    s = s or load_settings()
    mode = ""
    try:
        return {"mode": "cdc", **apply_cdc(s, max_seconds=max_seconds, log=log)}
    except SourceReset as exc:
        log(f"{exc} — resetting the warehouse, then taking a snapshot")
        reset_warehouse(s)
        mode = "reset+"
    except SnapshotNeeded as exc:
        log(f"{exc} — taking a snapshot")
    snap = extract_snapshot(s, log=log)
    if snap["offsets"] is None:
        return {"mode": mode + "snapshot", **snap}
    return {"mode": mode + "snapshot+cdc", "snapshot": snap,
            "cdc": apply_cdc(s, max_seconds=max_seconds, log=log)}
