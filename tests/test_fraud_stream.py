"""The fraud scorer as it runs for real: CDC events from the live shop, scored, on the topic and
in the Delta alerts table; SIGKILLed mid-stream and restarted without losing an order. Then the
same orders (and more, live) through the real-time mode scorer (``trigger(realTime=…)``, each
order's own event, native features): accepted by Spark, every order once, the same decisions.

Setup: a small history in the OLTP; Spark (in this process) builds the customer profiles and
trains + saves a model, then stops. The scorer runs as its own process
(``python -m jornada.lake.scorer run``); the live shop (``run_stream``) writes orders here; the
alerts table is read back with delta-rs (no second Spark session).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from jornada import fraud

pytestmark = pytest.mark.services

NOW = datetime(2026, 1, 31, 12, 0, 0)
REPO = Path(__file__).resolve().parents[1]
RUN = uuid.uuid4().hex[:8]
PREFIX = f"_tests/fraud-stream-{RUN}"
PROFILES = f"s3a://gold/{PREFIX}/profiles"
ALERTS = f"s3a://gold/{PREFIX}/alerts"
CHECKPOINTS = f"s3a://checkpoints/{PREFIX}"
TOPIC = f"fraude.alertas.test-{RUN}"
FIRST, SECOND, LIVE = 40, 40, 20


@pytest.fixture(scope="module")
def shop():
    """Stack, a history in the OLTP with CDC on, profiles + model on the store; cleaned after."""
    from jornada import cdc, s3
    from jornada import generators as g
    from jornada.config import ensure_env_file, reload
    from jornada.db import query_df
    from jornada.lake import model, scorer
    from jornada.lake.features import customer_profiles, order_features, with_labels
    from jornada.lake.rules import rule_flags
    from jornada.lake.spark import spark_session
    from jornada.schema import init_oltp
    from jornada.services import stack

    ensure_env_file()
    s = reload()
    stack(s).up(["oltp", "kafka", "connect", "s3"], log=lambda *_: None)
    init_oltp(reset=True)
    cdc.ensure_capture(log=lambda *_: None)
    g.load_customers(200, seed=11, now=NOW, progress=False)
    g.load_history(3000, seed=11, now=NOW, fraud_rate=0.05, progress=False)
    tables = {t: query_df(f"select * from {t}") for t in
              ("pedidos", "itens_pedidos", "auditoria_pedidos", "enderecos", "fraudes_confirmadas")}
    spark = spark_session("test-fraud-stream-setup")
    try:
        f = {t: spark.createDataFrame(df) for t, df in tables.items()}
        feats = order_features(f["pedidos"], f["itens_pedidos"], f["auditoria_pedidos"],
                               f["enderecos"])
        labelled = with_labels(rule_flags(feats), f["fraudes_confirmadas"]).cache()
        result = model.train(labelled, datetime(2025, 12, 2), k=2, baseline=False)
        manifest = model.save(result, s, f"{PREFIX}/model")
        scorer.write_profiles(customer_profiles(f["pedidos"], f["auditoria_pedidos"],
                                                f["enderecos"]), PROFILES)
    finally:
        spark.stop()
    yield {"settings": s, "manifest": manifest, "tables": tables,
           "last_history_id": int(tables["pedidos"]["id"].max())}
    from jornada import kafka

    kafka.delete_topics(TOPIC, s)
    for bucket in ("gold", "checkpoints", "models"):
        s3.delete_prefix(bucket, PREFIX + "/", s=s)


def _where(mode: str) -> dict:
    """Alerts table, checkpoints and topic of one mode's scorer (each its own)."""
    if mode == "micro-batch":
        return {"alerts_table": ALERTS, "checkpoints": CHECKPOINTS, "topic": TOPIC}
    return {"alerts_table": f"{ALERTS}-rt", "checkpoints": f"{CHECKPOINTS}-rt", "topic": f"{TOPIC}-rt"}


def _start_scorer(offsets: dict, log: Path, mode: str = "micro-batch") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO / "lib"))
    from jornada.lake import scorer

    cmd = scorer.command(profiles=PROFILES, **_where(mode), model_prefix=f"{PREFIX}/model",
                         starting_offsets=offsets, mode=mode)
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=REPO)


def _alerts(s, table: str = ALERTS) -> pd.DataFrame:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    from jornada.s3 import delta_rs_options

    try:
        return DeltaTable(table.replace("s3a://", "s3://"),
                          storage_options=delta_rs_options(s)).to_pandas()
    except TableNotFoundError:
        return pd.DataFrame(columns=["id_pedido"])


def _wait_for(s, ids: set[int], proc: subprocess.Popen, log: Path, timeout_s: float = 600,
              table: str = ALERTS):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the scorer died:\n" + log.read_text()[-3000:]
        got = _alerts(s, table)
        if ids <= set(got["id_pedido"].astype("int64")):
            return got
        time.sleep(3)
    missing = sorted(ids - set(_alerts(s, table)["id_pedido"]))[:20]
    raise AssertionError(f"orders never scored: {missing}\n{log.read_text()[-3000:]}")


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)   # the scorer's process group: its Python and its JVM
    proc.wait(timeout=30)


def _stream_ids(after: int) -> set[int]:
    from jornada.db import query_df

    return set(query_df("select id from pedidos where id > %s", (after,))["id"].astype("int64"))


@pytest.fixture(scope="module")
def streamed(shop, tmp_path_factory):
    """Orders streamed in two halves; the scorer is SIGKILLed between them and restarted."""
    from jornada import generators as g
    from jornada import kafka
    from jornada.cdc.config import message_topic, topic_for

    s = shop["settings"]
    log = tmp_path_factory.mktemp("scorer") / "scorer.log"
    topics = [topic_for("pedidos"), topic_for("auditoria_pedidos"), message_topic()]
    offsets = kafka.starting_offsets(topics, s)
    proc = _start_scorer(offsets, log)
    try:
        g.run_stream(count=FIRST, rate=10, seed=5, new_customer_share=0.25, progress=False)
        first = _stream_ids(shop["last_history_id"])
        _wait_for(s, first, proc, log)
        # killed while the shop keeps selling: these orders arrive with no scorer running
        g.run_stream(count=SECOND // 2, rate=10, seed=6, new_customer_share=0.25, progress=False)
        _kill(proc)
        g.run_stream(count=SECOND - SECOND // 2, rate=10, seed=7, new_customer_share=0.25,
                     progress=False)
        proc = _start_scorer(offsets, log)   # the checkpoint decides where it resumes
        every = _stream_ids(shop["last_history_id"])
        table = _wait_for(s, every, proc, log)
    finally:
        if proc.poll() is None:
            _kill(proc)
    on_topic = kafka.read(TOPIC, timeout_s=10, s=s)
    return {"ids": every, "table": table, "topic_messages": len(on_topic), "log": log,
            "offsets": offsets}


@pytest.fixture(scope="module")
def streamed_rt(streamed, shop, tmp_path_factory):
    """The real-time scorer from the same starting offsets: it catches up on the orders the
    micro-batch scorer saw, then scores ``LIVE`` more while they are sold, SIGKILLed halfway and
    restarted (one Spark process at a time: this runs after the micro-batch scorer stopped).
    Real-time mode commits its offsets once per checkpoint interval, so the restart replays
    from the last checkpoint: duplicates on the topic, each order once in the table."""
    from jornada import generators as g
    from jornada import kafka

    s = shop["settings"]
    where = _where("real-time")
    log = tmp_path_factory.mktemp("scorer-rt") / "scorer.log"
    proc = _start_scorer(streamed["offsets"], log, "real-time")
    try:
        _wait_for(s, streamed["ids"], proc, log, table=where["alerts_table"])
        g.run_stream(count=LIVE // 2, rate=10, seed=8, new_customer_share=0.25, progress=False)
        _kill(proc)
        g.run_stream(count=LIVE - LIVE // 2, rate=10, seed=9, new_customer_share=0.25,
                     progress=False)
        proc = _start_scorer(streamed["offsets"], log, "real-time")
        every = _stream_ids(shop["last_history_id"])
        table = _wait_for(s, every, proc, log, table=where["alerts_table"])
    finally:
        if proc.poll() is None:
            _kill(proc)
    on_topic = kafka.read(where["topic"], timeout_s=10, s=s)
    return {"ids": every, "table": table, "topic_messages": len(on_topic), "log": log}


@pytest.fixture(params=["micro-batch", "real-time"])
def run_of(request):
    """The streamed run of one mode."""
    return request.getfixturevalue("streamed" if request.param == "micro-batch" else "streamed_rt")


def test_every_streamed_order_is_scored_exactly_once(run_of, shop, record_property):
    table, ids = run_of["table"], run_of["ids"]
    assert len(ids) in (FIRST + SECOND, FIRST + SECOND + LIVE)
    assert set(table["id_pedido"]) == ids                 # none lost across the SIGKILL ...
    assert table["id_pedido"].is_unique                   # ... none twice in the table
    assert run_of["topic_messages"] >= len(ids)           # the topic is at-least-once
    assert (table["model_version"] == shop["manifest"]["version"]).all()
    assert table["score"].between(0, 1).all()
    assert (table["alert"] == (table["score"] >= shop["manifest"]["threshold"])).all()
    lat = (pd.to_datetime(table["topic_time"]) - pd.to_datetime(table["commit_time"]))
    record_property("commit_to_topic_p50_s", lat.dt.total_seconds().quantile(0.5))
    record_property("commit_to_topic_p99_s", lat.dt.total_seconds().quantile(0.99))
    record_property("topic_messages", run_of["topic_messages"])


def test_streamed_rules_match_the_library(run_of):
    """The location reason and the UF as the library says (the real-time scorer's UF comes
    from the prefix table, the micro-batch's from jornada.geo itself)."""
    from jornada import geo
    from jornada.db import query_df

    ids = sorted(run_of["ids"])
    orders = fraud.load_orders()
    orders = orders[orders["id_pedido"].isin(ids)]
    table = run_of["table"].set_index("id_pedido").loc[orders["id_pedido"]]
    assert table["uf"].tolist() == list(geo.states_of_geohash(orders["geohash"]))
    expected = fraud.location_flags(orders)
    assert [("location" in r) for r in table["reasons"]] == expected.tolist()
    assert table["geohash"].tolist() == orders["geohash"].tolist()
    known = query_df("select count(*) n from pedidos where id = any(%s)", (ids,))["n"][0]
    assert known == len(ids)


def test_a_new_customer_gets_no_device_signal(run_of, shop):
    table = run_of["table"]
    known = set(shop["tables"]["enderecos"]["id_pessoa"].astype("int64"))
    new = table[~table["id_pessoa"].astype("int64").isin(known)]
    assert len(new) > 0
    assert new["habitual_device"].isna().all()
    assert not any("device" in r for r in new["reasons"])
    old = table[table["id_pessoa"].astype("int64").isin(known)]
    assert old["habitual_device"].notna().any()


def test_real_time_decisions_equal_micro_batch(streamed, streamed_rt):
    """Same orders, same model and profiles: the same decision, whichever mode scored it."""
    cols = ["id_pessoa", "dt_venda", "valor_total", "dispositivo", "habitual_device", "geohash",
            "uf", "alert", "model_version", "commit_time"]
    mb = streamed["table"].set_index("id_pedido").sort_index()
    rt = streamed_rt["table"].set_index("id_pedido").loc[mb.index]
    assert len(mb) == FIRST + SECOND
    pd.testing.assert_frame_equal(rt[cols], mb[cols], check_dtype=False)
    assert [list(r) for r in rt["reasons"]] == [list(r) for r in mb["reasons"]]
    assert (rt["score"] - mb["score"]).abs().max() < 1e-9
    assert (rt["alert_time"] >= rt["commit_time"]).all()
