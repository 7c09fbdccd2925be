"""The one place that talks to Kafka: clients, partitions, end offsets, catching up.

CDC (lesson 03), the warehouse loader (lesson 04) and the lakehouse use these; none of them makes
its own consumer. Only kafka-python's public API is used.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from collections.abc import Iterable

from .config import Settings, settings as load_settings
from .db import ServiceUnavailable


class KafkaUnavailable(ServiceUnavailable):
    """The broker cannot be reached; the message names the fix."""


def up_hint(s: Settings, services: str = "kafka") -> str:
    if s.in_compose:
        return ("start them: `docker compose -f stack/docker-compose.yml --env-file .env "
                "--env-file stack/versions.env --profile cdc up -d`")
    return f"run `make up` (or `jornada stack up {services}`)"


@contextmanager
def quiet_client():
    """kafka-python logs every refused connection at ERROR while it bootstraps: when the broker
    is down, our one-line error says it better than a screenful of retries."""
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unavailable(s: Settings, exc: Exception) -> KafkaUnavailable:
    return KafkaUnavailable(f"Kafka not reachable at {s.kafka_bootstrap} — {up_hint(s)} "
                            f"({type(exc).__name__})")


def consumer(s: Settings | None = None, *, group: str | None = None, client_id: str = "jornada",
             **options):
    """A KafkaConsumer on the course's broker: no auto-commit, no topic auto-creation.

    ``group=None`` reads without a consumer group (nothing is committed); pass a group id to
    commit positions yourself (``enable_auto_commit`` stays off: commit after you processed).
    """
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    s = s or load_settings()
    defaults = dict(bootstrap_servers=s.kafka_bootstrap, group_id=group, enable_auto_commit=False,
                    allow_auto_create_topics=False, bootstrap_timeout_ms=3000,
                    request_timeout_ms=15000, fetch_max_wait_ms=100, client_id=client_id)
    try:
        with quiet_client():
            return KafkaConsumer(**{**defaults, **options})
    except KafkaError as exc:
        raise _unavailable(s, exc) from None


def producer(s: Settings | None = None, *, client_id: str = "jornada", **options):
    """A KafkaProducer that waits for the broker's acknowledgement (acks=all)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    s = s or load_settings()
    defaults = dict(bootstrap_servers=s.kafka_bootstrap, acks="all", client_id=client_id,
                    bootstrap_timeout_ms=3000, linger_ms=5)
    try:
        with quiet_client():
            return KafkaProducer(**{**defaults, **options})
    except KafkaError as exc:
        raise _unavailable(s, exc) from None


def admin(s: Settings | None = None, *, client_id: str = "jornada"):
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    s = s or load_settings()
    try:
        with quiet_client():
            return KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id=client_id,
                                    bootstrap_timeout_ms=3000)
    except KafkaError as exc:
        raise _unavailable(s, exc) from None


def partitions(c, topics: Iterable[str]) -> list:
    """TopicPartitions of the topics that exist, with fresh metadata (``topics()`` always asks the
    cluster, so a topic created a moment ago is seen)."""
    from kafka import TopicPartition

    known = c.topics()
    out = []
    for topic in topics:
        if topic in known:
            out += [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
    return out


def wait_partitions(c, topic: str, timeout_s: float) -> list:
    """The topic's partitions, waiting up to ``timeout_s`` for it to be created ([] if it never is)."""
    from .waits import TimedOut, poll_until

    try:
        return poll_until(lambda: partitions(c, [topic]), timeout_s=timeout_s, interval_s=0.25)
    except TimedOut:
        return []


def end_offsets(topics: str | Iterable[str], s: Settings | None = None) -> dict:
    """Offset of the next message to be written.

    One topic → ``{partition: offset}`` (``{}`` if it does not exist); several →
    ``{(topic, partition): offset}`` where a topic not created yet counts as partition 0 at 0.
    """
    one = isinstance(topics, str)
    names = [topics] if one else list(topics)
    c = consumer(s)
    try:
        parts = partitions(c, names)
        ends = c.end_offsets(parts) if parts else {}
    finally:
        c.close()
    if one:
        return {tp.partition: off for tp, off in ends.items()}
    out = {(tp.topic, tp.partition): off for tp, off in ends.items()}
    for topic in names:
        if not any(k[0] == topic for k in out):
            out[(topic, 0)] = 0
    return out


def starting_offsets(topics: Iterable[str], s: Settings | None = None) -> dict[str, dict[str, int]]:
    """Where the topics end now, as Spark's Kafka ``startingOffsets``: ``{topic: {"0": offset}}``
    (a reader started with it sees only what is written from now on)."""
    out: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in end_offsets(list(topics), s).items():
        out.setdefault(topic, {})[str(partition)] = offset
    return out


def list_topics(s: Settings | None = None, *, internal: bool = False) -> dict[str, int]:
    """Topic → number of messages currently in it (end offset − beginning offset)."""
    c = consumer(s)
    try:
        names = sorted(t for t in c.topics() if internal or not t.startswith("_"))
        out = {}
        for topic in names:
            parts = partitions(c, [topic])
            ends, starts = c.end_offsets(parts), c.beginning_offsets(parts)
            out[topic] = sum(ends[p] - starts[p] for p in parts)
        return out
    finally:
        c.close()


def delete_topics(prefix: str, s: Settings | None = None, *, contains: str = "") -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (and contains ``contains``)."""
    a = admin(s)
    try:
        doomed = [t for t in a.list_topics() if t.startswith(prefix) and contains in t]
        if doomed:
            a.delete_topics(doomed)
        return doomed
    finally:
        a.close()


def ensure_topic(topic: str, partitions: int = 1, s: Settings | None = None) -> bool:
    """Create ``topic`` if missing (the course's broker does not auto-create topics); True if it
    was created now."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    a = admin(s)
    try:
        if topic in a.list_topics():
            return False
        try:
            a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        a.close()


def reset_topic(topic: str, timeout_s: float = 30.0, s: Settings | None = None) -> bool:
    """Delete ``topic`` (exactly that name) and wait until the broker forgets it; True if it
    existed. E.g. the fraud alerts before a fresh run over a reset OLTP: its order ids start
    again, so the decisions of an earlier run would be MERGEd as the new orders' (the alerts
    table keeps the first per order). Whoever writes it creates it again (:func:`ensure_topic`)."""
    a = admin(s)
    try:
        if topic not in a.list_topics():
            return False
        a.delete_topics([topic])
        deadline = time.monotonic() + timeout_s
        while topic in a.list_topics():   # deletion is asynchronous: a create now would fail
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka did not delete topic {topic} within {timeout_s:.0f}s")
            time.sleep(0.5)
        return True
    finally:
        a.close()


def consumer_lag(group: str, topic: str, s: Settings | None = None):
    """How far a consumer group is behind on a topic: one row per partition with the group's
    committed offset, the topic's end offset and ``lag`` = end − committed (None: never committed).
    """
    import pandas as pd

    c = consumer(s, group=group)
    try:
        parts = partitions(c, [topic])
        ends = c.end_offsets(parts) if parts else {}
        rows = []
        for tp in parts:
            committed = c.committed(tp)
            rows.append({"group": group, "topic": topic, "partition": tp.partition,
                         "committed": committed, "end": ends[tp],
                         "lag": None if committed is None else ends[tp] - committed})
    finally:
        c.close()
    return pd.DataFrame(rows, columns=["group", "topic", "partition", "committed", "end", "lag"])


def decode(raw: bytes | None):
    """A message key or value: JSON when it parses, text otherwise, None for a tombstone."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def read(topic: str, *, timeout_s: float = 10.0, from_beginning: bool = True,
         max_messages: int | None = None, min_messages: int | None = None,
         offsets: dict[int, int] | None = None, s: Settings | None = None) -> list:
    """The raw messages of a topic (see :func:`jornada.cdc.read_topic` for the parameters)."""
    c = consumer(s)
    messages: list = []
    try:
        deadline = time.monotonic() + timeout_s
        parts = wait_partitions(c, topic, timeout_s)
        if not parts:
            return messages
        c.assign(parts)
        if offsets is not None:
            from_beginning = True  # read from the given positions up to the current end
            c.seek_to_beginning(*parts)
            for p in parts:
                if p.partition in offsets:
                    c.seek(p, offsets[p.partition])
        elif from_beginning:
            c.seek_to_beginning(*parts)
        else:
            c.seek_to_end(*parts)
        ends = c.end_offsets(parts)
        positions = {p: c.position(p) for p in parts}
        while time.monotonic() < deadline:
            if max_messages is not None and len(messages) >= max_messages:
                break
            caught_up = all(positions[p] >= ends[p] for p in parts)
            if from_beginning and caught_up and (min_messages is None or len(messages) >= min_messages):
                break
            batch = c.poll(timeout_ms=200, max_records=max_messages - len(messages)
                           if max_messages is not None else 500)
            for tp, records in batch.items():
                for msg in records:
                    messages.append(msg)
                    positions[tp] = msg.offset + 1
            for p in parts:
                positions[p] = max(positions[p], c.position(p))
    finally:
        c.close()
    return messages[:max_messages] if max_messages is not None else messages


def set_retention_bytes(topics: Iterable[str], retention_bytes: int | None,
                        s: Settings | None = None) -> None:
    """A per-topic ``retention.bytes`` (-1: unlimited; a missing topic is created first), or
    back to the broker's default (None). The broker keeps 1 GiB per partition (the stack's disk
    budget): a backlog bigger than that loses its oldest events before a reader gets to them."""
    from kafka.admin import ConfigResource, ConfigResourceType

    topics = list(topics)
    if retention_bytes is not None:
        for t in topics:
            ensure_topic(t, s=s)
    a = admin(s)
    try:
        existing = set(a.list_topics())
        value = ("DELETE", None) if retention_bytes is None else str(retention_bytes)
        a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, configs={"retention.bytes": value})
                         for t in topics if t in existing], incremental=True)
    finally:
        a.close()
