"""Real-time scoring: OLTP commit → alert on the ``fraude.alertas`` topic, at a steady rate.

A fresh OLTP with a history (CDC on) trains and saves a model and the customers' profiles
(Spark in this process, then stopped); the scorer runs as its own process, as in production
(``python -m jornada.lake.scorer run``). The live shop then writes ``rate`` orders/s for
``seconds``. Latency of an order = the Kafka timestamp of its alert (set when the scorer's
producer wrote it) − its commit time in Postgres (``commit_time``, from the WAL event); both
clocks are this machine's. Reported: p50/p95/p99/max, the rate the shop reached, and the orders
never scored (goal: 0); and the same path in two parts, split where Debezium wrote the order's
event to ``liga.message`` (its Kafka timestamp): commit → message (Debezium) and message → alert
(the scorer).

Both modes, one after the other on the same model and profiles (one Spark process at a time):
``real-time`` (``trigger(realTime=…)``: each order's own event from ``liga.message``, native
features, broadcast joins) and ``micro-batch`` (the two CDC topics joined as streams, the UF by
a pandas UDF). Each gets its own warm-up, then the same rate and duration.

Run: .venv/bin/python benchmarks/bench_scoring.py [rate] [seconds]   (prints JSON)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))  # works before install too

NOW = datetime(2026, 1, 31, 12, 0, 0)
CUTOFF = NOW - timedelta(days=45)


def _percentiles(values: list[float]) -> dict:
    import numpy as np

    if not values:
        return {}
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "max": round(float(a.max()), 1)}


def _prepare(s, prefix: str, history: int, seed: int) -> dict:
    """History in the OLTP; model + profiles on the store."""
    from jornada import cdc
    from jornada import generators as g
    from jornada.db import query_df
    from jornada.lake import model, scorer
    from jornada.lake.features import customer_profiles, order_features, with_labels
    from jornada.lake.rules import rule_flags
    from jornada.lake.spark import spark_session
    from jornada.schema import init_oltp

    init_oltp(reset=True)
    cdc.ensure_capture(log=lambda *_: None, wait=True)
    g.load_customers(max(200, history // 15), seed=seed, now=NOW, progress=False)
    g.load_history(history, seed=seed, now=NOW, fraud_rate=0.01, progress=False)
    tables = {t: query_df(f"select * from {t}") for t in
              ("pedidos", "itens_pedidos", "auditoria_pedidos", "enderecos", "fraudes_confirmadas")}
    spark = spark_session("bench-scoring-setup")
    try:
        f = {t: spark.createDataFrame(df) for t, df in tables.items()}
        feats = order_features(f["pedidos"], f["itens_pedidos"], f["auditoria_pedidos"], f["enderecos"])
        t0 = time.perf_counter()
        result = model.train(with_labels(rule_flags(feats), f["fraudes_confirmadas"]).cache(), CUTOFF,
                             k=5, baseline=False)
        train_s = time.perf_counter() - t0
        manifest = model.save(result, s, f"{prefix}/model")
        scorer.write_profiles(customer_profiles(f["pedidos"], f["auditoria_pedidos"], f["enderecos"]),
                              f"s3a://gold/{prefix}/profiles")
    finally:
        spark.stop()
    return {"manifest": manifest, "train_s": round(train_s, 1),
            "last_history_id": int(tables["pedidos"]["id"].max())}


def _alerts(topic: str, s) -> dict[int, tuple[float, float]]:
    """id_pedido → (commit time, alert time) in epoch ms, of its first alert on the topic."""
    from jornada import kafka

    out: dict[int, tuple[float, float]] = {}
    for msg in kafka.read(topic, timeout_s=10, s=s):
        a = json.loads(msg.value)
        commit = datetime.fromisoformat(a["commit_time"].replace("Z", "+00:00")).timestamp()
        out.setdefault(int(a["id_pedido"]), (commit * 1000, msg.timestamp))
    return out


def _published(s, offsets: dict[int, int]) -> dict[int, float]:
    """id_pedido → when Debezium's producer wrote the order's event to ``liga.message`` (epoch
    ms): what splits commit → alert into Debezium's part and the scorer's."""
    import base64

    from jornada import kafka
    from jornada.cdc.config import message_topic

    out: dict[int, float] = {}
    for msg in kafka.read(message_topic(), timeout_s=60, offsets=offsets, s=s):
        event = json.loads(msg.value) if msg.value else None
        if event and event.get("op") == "m":
            order = json.loads(base64.b64decode(event["message"]["content"]))
            out.setdefault(int(order["id_pedido"]), msg.timestamp)
    return out


def _measure(s, mode: str, prefix: str, tag: str, after_id: int, rate: float, seconds: float,
             seed: int) -> dict:
    """One scorer process in ``mode``: warm-up, then ``rate`` orders/s for ``seconds``."""
    from jornada import generators as g
    from jornada import kafka
    from jornada.cdc.config import message_topic, topic_for
    from jornada.db import query_df
    from jornada.lake import scorer

    topic = f"fraude.alertas.bench-{tag}-{mode}"
    topics = [message_topic(), topic_for("pedidos"), topic_for("auditoria_pedidos")]
    offsets = kafka.starting_offsets(topics, s)
    log = Path(tempfile.mkdtemp(prefix=f"bench-scoring-{mode}-")) / "scorer.log"
    cmd = scorer.command(profiles=f"s3a://gold/{prefix}/profiles", alerts_table=f"s3a://gold/{prefix}/alerts-{mode}",
                         checkpoints=f"s3a://checkpoints/{prefix}/{mode}", topic=topic, model_prefix=f"{prefix}/model",
                         starting_offsets=offsets, mode=mode)
    proc = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=str(REPO / "lib")), cwd=REPO,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def ids_after(after: int) -> set[int]:
        return set(query_df("select id from pedidos where id > %s", (after,))["id"].astype("int64"))

    def wait_scored(ids: set[int], timeout_s: float) -> dict[int, float]:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, "the scorer died:\n" + log.read_text()[-3000:]
            got = _alerts(topic, s)
            if ids <= set(got) or time.monotonic() > deadline:
                return got
            time.sleep(3)

    try:
        # warm-up: the scorer's JVM, first batches and model load are not the steady state
        g.run_stream(count=20, rate=10, seed=seed + 1, progress=False)
        warm = ids_after(after_id)
        wait_scored(warm, 600)
        last = max(warm)
        t0 = time.perf_counter()
        shop = threading.Thread(target=g.run_stream, kwargs=dict(rate=rate, duration=seconds,
                                seed=seed + 2, progress=False), daemon=True)
        shop.start()
        shop.join()
        shop_s = time.perf_counter() - t0
        streamed = ids_after(last)
        got = wait_scored(streamed, 300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        kafka.delete_topics(topic, s)
    published = _published(s, {int(p): o for p, o in offsets[message_topic()].items()})
    scored = [i for i in streamed if i in got]
    split = [i for i in scored if i in published]
    return {"orders": len(streamed), "rate_reached": round(len(streamed) / shop_s, 1),
            "unscored": len(streamed - set(got)),
            "commit_to_alert_ms": _percentiles([got[i][1] - got[i][0] for i in scored]),
            # the same orders' path in two parts: Debezium (commit → liga.message), then the scorer
            "commit_to_message_ms": _percentiles([published[i] - got[i][0] for i in split]),
            "message_to_alert_ms": _percentiles([got[i][1] - published[i] for i in split]),
            "last_id": max(streamed)}


def run(rate: float = 200, seconds: float = 60, history: int = 5_000, seed: int = 42) -> dict:
    from jornada import s3
    from jornada.config import reload
    from jornada.services import stack

    s = reload()
    stack(s).up(["oltp", "kafka", "connect", "s3"], log=lambda m: print(m, file=sys.stderr))
    tag = uuid.uuid4().hex[:8]
    prefix = f"_bench/scoring-{tag}"
    prep = _prepare(s, prefix, history, seed)
    modes, after = {}, prep["last_history_id"]
    try:
        for k, mode in enumerate(("real-time", "micro-batch")):   # one Spark process at a time
            modes[mode] = _measure(s, mode, prefix, tag, after, rate, seconds, seed + 10 * k)
            after = modes[mode].pop("last_id")
    finally:
        for bucket in ("gold", "checkpoints", "models"):
            s3.delete_prefix(bucket, prefix + "/", s=s)
    return {"rate_asked": rate, "seconds": seconds, "goal_p99_ms": 500, "modes": modes,
            "history_orders": history, "train_s": prep["train_s"],
            "model_version": prep["manifest"]["version"]}


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:3]]
    print(json.dumps(run(*args), indent=2))
