"""CDC latency and the streaming generator's rate, against the real native services.

Latency = the moment a consumer receives an order's change event − the order's commit time in
Postgres. The commit time comes from the event itself (``source.ts_us``: the commit timestamp
Postgres wrote into the WAL, microseconds), the receive time from the consumer's wall clock right
after ``poll`` returns; both clocks are this machine's. Orders are written by the course's
streaming generator (one transaction per order) paced at a steady rate in a thread, while a
kafka-python consumer, assigned to the end of the orders topic, timestamps every event.

Goals (issue 3): p99 < 1 s at 500 orders/s for 60 s; the unpaced generator ≥ 500 orders/s.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

GOAL_P99_MS = 1000
GOAL_GENERATOR_RATE = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stack_for_cdc(log):
    """Kafka + Connect on this stack; ports moved aside when someone else's stack holds them."""
    from jornada.config import reload
    from jornada.services import stack
    from jornada.stack.runtime import port_open

    st = stack(reload())
    # a service this stack runs keeps its port; one it does not run moves off a port in use
    taken = [key for key, name in (("KAFKA_PORT", "kafka"), ("KAFKA_CONTROLLER_PORT", "kafka"),
                                   ("CONNECT_PORT", "connect"))
             if st.running_pid(st.services[name]) is None and port_open(getattr(st.settings, key.lower()))]
    if taken:
        for key in taken:
            os.environ[key] = str(_free_port())
        st = stack(reload())
    started = {}
    for name in ("oltp", "kafka", "connect"):
        svc = st.services[name]
        if st.running_pid(svc) is None:
            t0 = time.monotonic()
            st.up([name], log=log)
            started[name] = round(time.monotonic() - t0, 1)
        else:
            st.up([name], log=log)  # healthy check + after_start (registration) only
    return st, started


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def measure_latency(rate: float = 500, seconds: float = 60, seed: int = 11,
                    drain_s: float = 30) -> dict:
    """Stream orders at ``rate`` for ``seconds``; latency of every order's create event."""
    from jornada import cdc, generators, kafka
    from jornada.db import scalar

    topic = cdc.topic_for("pedidos")
    if not cdc.end_offsets(topic):  # a fresh database: the topic appears with the first order
        generators.run_stream(count=1, seed=seed, progress=False)
        cdc.read_topic(topic, min_messages=1, timeout_s=60)
    first_new = scalar("select coalesce(max(id), 0) from pedidos") + 1
    consumer = kafka.consumer(client_id="jornada-bench", fetch_max_wait_ms=20, max_poll_records=2000)
    parts = kafka.wait_partitions(consumer, topic, timeout_s=10)
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for p in parts:
        consumer.position(p)
    latencies: dict[int, float] = {}
    duplicates = 0
    result: dict = {}
    writer_done = threading.Event()

    def write():
        try:
            result.update(generators.run_stream(rate=rate, duration=seconds, seed=seed,
                                                progress=False))
        except Exception as exc:  # noqa: BLE001 - reported in the result
            result["error"] = repr(exc)
        finally:
            writer_done.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    drain_deadline = None
    while True:
        batch = consumer.poll(timeout_ms=100)
        received_us = time.time() * 1e6
        for messages in batch.values():
            for msg in messages:
                if msg.value is None:
                    continue
                event = json.loads(msg.value)
                after = event.get("after") or {}
                if event.get("op") != "c" or after.get("id", 0) < first_new:
                    continue
                commit_us = event["source"].get("ts_us") or event["source"]["ts_ms"] * 1000
                if after["id"] in latencies:
                    duplicates += 1
                    continue
                latencies[after["id"]] = (received_us - commit_us) / 1000
        if writer_done.is_set():
            if drain_deadline is None:
                drain_deadline = time.monotonic() + drain_s
            expected = result.get("orders", 0)
            if len(latencies) >= expected or time.monotonic() > drain_deadline:
                break
    consumer.close()
    values = list(latencies.values())
    written = scalar("select count(*) from pedidos where id >= %s", (first_new,))
    return {
        "target_orders_per_s": rate,
        "seconds": result.get("seconds"),
        "orders_written": written,
        "achieved_orders_per_s": result.get("orders_per_s"),
        "events_received": len(values),
        "missing": written - len(values),
        "duplicates": duplicates,
        "latency_ms": {"p50": _percentile(values, 50), "p95": _percentile(values, 95),
                       "p99": _percentile(values, 99), "max": round(max(values), 1) if values else None,
                       "min": round(min(values), 1) if values else None},
        "goal_p99_ms": GOAL_P99_MS,
        "goal_met": bool(values) and _percentile(values, 99) < GOAL_P99_MS
                    and written == len(values) and not result.get("error"),
        **({"error": result["error"]} if "error" in result else {}),
    }


def wait_caught_up(timeout_s: float = 120) -> float:
    """Wait until Debezium has confirmed the WAL written so far (slot lag near zero)."""
    from jornada import cdc

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        slot = cdc.slot_lag()
        if slot and slot["active"] and slot["lag_bytes"] is not None and slot["lag_bytes"] < 64 * 1024:
            break
        time.sleep(0.5)
    return round(time.monotonic() - t0, 1)


def run(rate: float = 500, seconds: float = 60, stream_orders: int = 10_000, seed: int = 11,
        log=None) -> dict:
    """The CDC suite of `make bench`: latency at a steady rate, then the unpaced generator rate."""
    import sys

    from jornada import cdc, generators, versions

    log = log or (lambda m: print(m, file=sys.stderr))
    st, started = _stack_for_cdc(log)
    try:
        cdc.ensure_capture(log=log)
        catch_up_s = wait_caught_up()
        latency = measure_latency(rate=rate, seconds=seconds, seed=seed)
        wait_caught_up()
        # the generator alone decides this rate; CDC keeps running beside it, as in lesson 03
        stream = generators.run_stream(count=stream_orders, seed=seed + 1, progress=False)
        rss = st.rss_mb()
        status = cdc.check_connector()
    finally:
        for name in ("connect", "kafka"):
            if name in started:
                st.down([name], log=log)
    return {
        "versions": {"kafka": versions.kafka_version(), "debezium": versions.debezium_version()},
        "start_seconds": started,
        "slot_confirmed_wait_seconds": catch_up_s,
        "latency_at_steady_rate": latency,
        "stream_generator_unpaced": {
            "orders": stream.get("orders"), "seconds": stream.get("seconds"),
            "orders_per_s": stream.get("orders_per_s"),
            "goal_orders_per_s": GOAL_GENERATOR_RATE,
            "goal_met": (stream.get("orders_per_s") or 0) >= GOAL_GENERATOR_RATE,
            "note": "one transaction per order, unpaced, with the CDC pipeline running",
        },
        "rss_mb": {k: round(v) for k, v in rss.items() if k in ("kafka", "connect")},
        "rss_mb_kafka_plus_connect": round(rss.get("kafka", 0) + rss.get("connect", 0)),
        "connector_state": status["connector"],
    }


if __name__ == "__main__":  # python -m benchmarks.bench_cdc [rate] [seconds]
    import sys

    args = [float(a) for a in sys.argv[1:]]
    print(json.dumps(run(*args[:2]) if args else run(), indent=2))
