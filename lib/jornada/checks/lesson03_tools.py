"""Lesson 03's scaffolding: a short-lived second Debezium connector, removed whatever happens.

The lesson uses it to show a snapshot without touching the course connector; its checks use it
to prove a learner's capture set-up end to end. Pipelines never need it.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from .. import cdc, kafka
from ..config import settings as load_settings
from ..db import connect

TEMP_PREFIX = "lesson03"          # connectors lesson03-<tag>-<hex>, slots lesson03_<tag>_<hex>
TEMP_TOPIC_PREFIX = "l03"         # topics l03<tag><hex>.public.<table>


# ---- a short-lived second connector ----------------------------------------------------------
@dataclass
class TempConnector:
    name: str
    slot: str
    prefix: str
    tables: list[str]
    config: dict = field(repr=False, default_factory=dict)

    def topic(self, table: str) -> str:
        return f"{self.prefix}.public.{table}"


def _replication_conn(s):
    """A connection as the Debezium role: REPLICATION lets it drop a replication slot."""
    return connect(s.oltp, autocommit=True, user=s.debezium_user,
                   password=cdc.debezium_password(s))


def _drop(name: str | None, slot: str | None, prefix: str | None, s, wait_s: float = 30) -> None:
    """Delete the connector, then its (by then inactive) slot, then its topics."""
    if name:
        cdc.delete_connector(name, s)
    if slot:
        deadline = time.monotonic() + wait_s
        with _replication_conn(s) as conn:
            while True:
                row = conn.execute("select active from pg_replication_slots where slot_name = %s",
                                   (slot,)).fetchone()
                if row is None:
                    break
                if not row[0]:
                    try:
                        conn.execute("select pg_drop_replication_slot(%s)", (slot,))
                        break
                    except psycopg.errors.ObjectInUse:  # the task grabbed it again: retry
                        pass
                if time.monotonic() > deadline:
                    raise cdc.CdcError(f"replication slot {slot} still active {wait_s:.0f}s after its "
                                       f"connector was deleted — drop it by hand once inactive: "
                                       f"select pg_drop_replication_slot('{slot}')")
                time.sleep(0.3)
    if prefix:
        kafka.delete_topics(prefix + ".", s)


def drop_leftovers(s=None) -> list[str]:
    """Remove temporary connectors, slots and topics an interrupted run left behind.

    An abandoned slot is the dangerous part: it pins WAL forever (see the lesson's heartbeat
    section), so every temporary connector starts by sweeping them.
    """
    s = s or load_settings()
    removed = []
    for name in cdc.connectors(s):
        if name.startswith(TEMP_PREFIX + "-"):
            cdc.delete_connector(name, s)
            removed.append(f"connector {name}")
    with _replication_conn(s) as conn:
        slots = [r[0] for r in conn.execute(
            "select slot_name from pg_replication_slots where slot_name like %s",
            (TEMP_PREFIX + "\\_%",))]
    for slot in slots:
        _drop(None, slot, None, s)
        removed.append(f"slot {slot}")
    removed += [f"topic {t}" for t in kafka.delete_topics(TEMP_TOPIC_PREFIX, s, contains=".public.")]
    return removed


@contextmanager
def temporary_connector(tables: list[str], *, tag: str = "demo", snapshot_mode: str = "initial",
                        s=None):
    """A second Debezium connector, for a demo or a check, removed afterwards whatever happens.

    It is the course connector's config (stack/register-liga-oltp.json) with only what makes a
    connector independent changed: its own ``topic.prefix`` (its own topics), its own
    ``slot.name`` (its own position in the WAL) and — because Connect keys source offsets by
    connector name — its own offsets. ``table.include.list`` is ``tables``; no heartbeat. It reads
    the same publication as the course connector. On exit: connector deleted, slot dropped,
    topics deleted.
    """
    s = s or load_settings()
    drop_leftovers(s)
    suffix = uuid.uuid4().hex[:6]
    name = f"{TEMP_PREFIX}-{tag}-{suffix}"
    slot = f"{TEMP_PREFIX}_{tag}_{suffix}"
    prefix = f"{TEMP_TOPIC_PREFIX}{tag}{suffix}"
    config = cdc.connector_config(s=s)
    config.pop("heartbeat.action.query", None)
    config.update({"topic.prefix": prefix, "slot.name": slot, "snapshot.mode": snapshot_mode,
                   "table.include.list": ",".join(f"public.{t}" for t in tables),
                   "heartbeat.interval.ms": "0"})
    tc = TempConnector(name, slot, prefix, list(tables), config)
    try:
        cdc.put_connector_config(name, config, s)
        yield tc
    finally:
        _drop(name, slot, prefix, s)
