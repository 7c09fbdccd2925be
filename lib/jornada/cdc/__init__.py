"""Change data capture of the OLTP database with Debezium, Kafka Connect and Kafka (lesson 03).

Three parts, each idempotent, each failing with a message that names the service and the fix:

1. **Postgres side** (:func:`setup_postgres`), set up by code, never by hand:

   - a dedicated role (``DEBEZIUM_USER``) with only what the connector needs — ``LOGIN``,
     ``REPLICATION`` (to open a logical replication connection and create its slot), ``CONNECT`` on
     the database, ``USAGE`` on the schema and ``SELECT`` on the captured tables (the initial
     snapshot reads them), plus ``INSERT``/``UPDATE`` on the heartbeat table. The original course
     connected Debezium as the superuser: a leaked connector config then meant a leaked superuser.
   - a publication ``FOR TABLE <list>`` created by the tables' owner (the course role), so
     Debezium never needs ``CREATE`` on the database nor ownership of the tables
     (``publication.autocreate.mode=disabled``).
   - ``REPLICA IDENTITY FULL`` where before-images matter (see :data:`REPLICA_IDENTITY`).
   - a heartbeat table, see below.

2. **Connector registration** (:func:`register`): one ``stack/register-<name>.json`` per
   connector, Debezium-tutorial style. ``PUT /connectors/<name>/config`` creates or updates; we
   first compare with the running config, so registering twice changes nothing (no restart). The
   JSON holds ``${PLACEHOLDERS}`` for the database address and the credentials; they are filled
   from settings (`.env`) at registration time and never written to the repository.

3. **Reading the change stream**: :func:`read_topic` turns a topic into a pandas DataFrame of
   (op, before, after, source_ts_ms, lsn, key, offset, partition, timestamp, ...); status helpers
   report the connector's and task's state and the replication slot's lag in bytes.

The publication trap
--------------------
``CREATE PUBLICATION ... FOR TABLE a, b`` fixes the list: a table created later — or dropped and
created again, as ``jornada db init --reset`` does — is **not** in the publication, so Postgres
never sends its changes and Debezium publishes nothing for it. No error, no warning: the topic
simply never appears. ``FOR ALL TABLES`` avoids that but needs a superuser and captures every
table, wanted or not. So a new table is captured only when it is added to the publication
(``ALTER PUBLICATION liga_cdc ADD TABLE t``) *and* to the connector's ``table.include.list``,
and the table's REPLICA IDENTITY is set too. :func:`ensure_capture` repairs what it knows (the
tables of the register JSON) and :func:`status` lists captured tables missing from the
publication.

Why a heartbeat
---------------
A replication slot keeps every WAL segment from its ``restart_lsn`` on, until the consumer
confirms it has processed that position. Debezium confirms positions as it receives changes of
captured tables; if those tables are idle while the server keeps writing WAL (other tables, other
databases, vacuum), the slot's position never moves and WAL piles up until the disk fills
(``max_slot_wal_keep_size`` then invalidates the slot: data loss for the connector).
``heartbeat.interval.ms`` makes Debezium commit its offset regularly and
``heartbeat.action.query`` writes a row to ``cdc_heartbeat`` (a published table) so there always
is a change to receive and a position to confirm.

Event format (see stack/register-liga-oltp.json)
------------------------------------------------
- JSON without embedded schemas (``schemas.enable=false``): readable, small; consumers must know
  the column types (:func:`decode_temporal` does it from the database catalog).
- ``decimal.handling.mode=string``: ``numeric(10,2)`` money arrives as ``"19.90"``, exact;
  ``precise`` would be base64 bytes and ``double`` would round sums. Convert with
  ``decimal.Decimal`` or ``pandas.to_numeric``.
- ``time.precision.mode=adaptive_time_microseconds``: ``timestamp`` columns arrive as
  microseconds since 1970-01-01 (``pd.to_datetime(v, unit="us")``), ``date`` as days since
  1970-01-01 (``pd.to_datetime(v, unit="D")``), ``time`` as microseconds.
- ``snapshot.mode=when_needed``: the first start snapshots every captured table (events with
  ``op="r"``), then streams. Later starts resume from the LSN stored in Connect's offsets; if that
  position is gone (slot dropped or invalidated, OLTP data reset) the connector snapshots again
  instead of silently skipping changes — duplicates downstream, never a hole.
- ``tombstones.on.delete=true``: a delete is an event ``op="d"`` (with the before-image) followed
  by a tombstone (key, null value) so a compacted topic can forget the key. :func:`read_topic`
  keeps tombstones as rows with ``op=None`` and ``tombstone=True``.
"""

from __future__ import annotations

from ..kafka import consumer_lag, end_offsets, list_topics  # noqa: F401
from .config import (CONNECTOR, STACK_DIR, CdcError, ConnectorFailed, captured_tables,  # noqa: F401
                     connector_config, connector_template, debezium_password, heartbeat_topic,
                     message_topic, placeholder_values, register_files, topic_for, topic_prefix)
from .connect import (bootstrap_servers, check_connector, connect_url, connector_status,  # noqa: F401
                      connectors, delete_connector, ensure_capture, register, register_all,
                      put_connector_config, restart_connector, status, wait_running)
from .events import COLUMNS, decode_temporal, read_topic  # noqa: F401
from .postgres import (HEARTBEAT_DDL, HEARTBEAT_TABLE, REPLICA_IDENTITY, ensure_role,  # noqa: F401
                       publication_tables, setup_postgres, slot_lag, wait_for_capture)
