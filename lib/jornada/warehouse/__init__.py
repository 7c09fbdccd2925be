"""Getting the shop's data into the warehouse, and running dbt on it (lessons 04 and 05).

The OLAP Postgres keeps a **raw mirror** of the OLTP tables in schema ``raw`` (same columns and
types, no constraints but the primary key, plus four bookkeeping columns). dbt (``warehouse/``)
builds the star schema from it. Two loaders fill the mirror:

``extract_snapshot()`` — a full copy
    One OLTP transaction at ``REPEATABLE READ`` (so every table is read at the SAME instant: no
    item without its order), streamed with ``COPY ... TO STDOUT`` → ``COPY ... FROM STDIN`` in
    binary format, into ONE OLAP transaction that truncates and refills every raw table. Readers
    wait on the lock and then see the complete new copy, never half a table, never new orders
    with old items. Used to bootstrap, after ``db init --reset``, or when Kafka no longer holds
    the changes the warehouse needs.

``apply_cdc()`` — the incremental path, from Debezium's change events
    A Kafka consumer of the ``liga.public.<table>`` topics (lesson 03). Each poll is applied in
    ONE OLAP transaction: per primary key only the last event of the batch counts; creates,
    updates and snapshot reads are upserts (``INSERT ... ON CONFLICT (pk) DO UPDATE``), deletes
    are deletes. The next offset of every partition is stored in ``raw._cdc_offsets`` **in the
    same transaction** as the rows — the warehouse, not Kafka, is the source of truth of "how far
    have I applied", so a crash between the OLAP commit and the Kafka commit can neither lose
    nor double-apply a change (Kafka's documented pattern "storing offsets outside Kafka"). The
    consumer group offset is committed to Kafka only AFTER the OLAP commit, for monitoring
    (``kafka-consumer-groups --describe --group jornada-warehouse`` shows the lag). Every raw
    row remembers the offset of the event that wrote it (``_offset``) and an event only
    overwrites a row written by an older event, so re-delivering a batch is harmless
    (at-least-once delivery, idempotent apply). Within one table the order is the topic's
    partition order, which is the order Postgres committed the changes (Debezium reads the WAL
    in commit order); the event's LSN is kept in ``_lsn`` for inspection.

    Snapshot + stream: ``extract_snapshot`` reads Kafka's end offsets BEFORE it opens the OLTP
    snapshot and stores them as the starting point. Every change committed after the snapshot is
    therefore at or after that offset; the few events between that offset and the snapshot are
    re-applied on top of rows that already hold them, which changes nothing once the batch is
    done (the last event of each key equals the snapshot's value).

Why not a ``updated_at`` watermark ("copy rows with updated_at > last max")? The original
course's incremental idea loses data in three ways, and this module's tests show each:

1. *Late rows.* ``updated_at`` is the time the OLTP statement ran (``now()`` is the start of the
   transaction), not the time the row became visible. A transaction that starts at 10:00 and
   commits at 10:05 writes ``updated_at = 10:00``; an extract at 10:03 does not see it yet but
   moves the watermark to the newest visible row, say 10:02 — the next extract asks for
   ``> 10:02`` and skips that row forever. Back-dated writes are the same thing in bulk: our
   history loader writes ``created_at = updated_at = dt_venda`` (days in the past), so a whole
   history load after the first extract is invisible to the watermark; so is a chargeback
   (``fraudes_confirmadas``) that arrives weeks after its order.
2. *Deletes* leave no row behind to carry an ``updated_at``: the warehouse keeps them forever.
3. *Clocks*: the watermark compares the OLTP server's clock with itself across restarts and
   replicas; skew or a restored backup silently moves it.

The change log has none of these problems: a change is in the log once it commits, deletes are
events, and positions are offsets, not clocks. (Inside the warehouse dbt may still use a time
watermark — on ``_loaded_at``, which *this* loader assigns when it commits, with a lookback
window; see ``warehouse/models/marts/fato_pedidos.sql``.)

Alternatives considered (lesson 04 compares them): Debezium's JDBC *sink* connector in the same
Connect worker (is not published on Maven Central for our Debezium version, and would hide the
apply logic the lesson wants to show); ``postgres_fdw`` (not shipped by the ``pgserver``
build; it also only pulls full tables or watermark ranges, with the problems above); a periodic
full ``COPY`` (correct but O(size) every time: fine at course scale, which is why it is the
bootstrap path).

UF per order (fraud rate by state): the UF of a geohash is a point-in-polygon question answered
in Python (:mod:`jornada.geo`, shapely), which dbt on Postgres cannot ask. The loader keeps a
lookup ``raw.geohash_uf(geohash, uf)`` — the function is pure, so each distinct geohash is
resolved once, after every load, for the geohashes not there yet (an anti-join). The raw mirror
itself stays byte-identical to the OLTP (so reconciliations are exact) and dbt joins the lookup
in; a dbt test fails the build if an order's geohash is missing from it. ``uf`` NULL means
"outside Brazil".

Bookkeeping columns of every raw table: ``_op`` (``s`` snapshot, ``r``/``c``/``u`` Debezium),
``_offset`` (Kafka offset of the event; for snapshot rows, the offset just before
where the stream resumes), ``_lsn`` (the change's WAL
position), ``_source_ts`` (commit time in the OLTP), ``_loaded_at`` (the load stamp of the warehouse
transaction that wrote the row — what dbt's incremental model and freshness checks use).
Loader transactions are serialized by an advisory lock and stamped after taking it, so stamps
grow in commit order and are an exact watermark (see :func:`_lock_and_stamp`).
"""

from __future__ import annotations

from .apply import CdcStats, apply_cdc, load, stored_offsets  # noqa: F401
from .dbt import DBT_PROJECT_DIR, DbtResult, dbt, dbt_env, dbt_executable  # noqa: F401
from .mirror import (CONSUMER_GROUP, GEOHASH_TABLE, LOADS_TABLE, META_COLUMNS,  # noqa: F401
                     OFFSETS_TABLE, RAW, SOURCE_TABLE, WAREHOUSE_SCHEMAS, DbtError, SnapshotNeeded,
                     SourceReset, TableDef, WarehouseError, ensure_raw_schema, oltp_catalog,
                     refresh_geohash_uf, reset_warehouse, source_changes, source_identity, tables,
                     topic_of)
from .quality import compare_with_oltp, quality_gate  # noqa: F401
from .snapshot import extract_snapshot  # noqa: F401
