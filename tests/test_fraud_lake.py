"""Fraud on the lake, in Spark, against independent pandas computations on the same orders.

A few thousand orders are generated into the real OLTP, read back with pandas (the OLTP's own
types: numeric money, naive timestamps) and handed to Spark: the features, the rules and the model
are computed there and compared here, order by order.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from jornada import fraud, geo
from jornada.config import REPO_ROOT

pytestmark = pytest.mark.services

NOW = datetime(2026, 1, 31, 12, 0, 0)
CUSTOMERS, ORDERS = 300, 4000


@pytest.fixture(scope="module")
def oltp_tables():
    """The OLTP tables of a small generated shop, as pandas DataFrames (read from Postgres)."""
    from jornada import generators as g
    from jornada.config import ensure_env_file, reload
    from jornada.db import query_df
    from jornada.schema import init_oltp
    from jornada.services import stack

    ensure_env_file()
    stack(reload()).up(["oltp"], log=lambda *_: None)
    init_oltp(reset=True)
    g.load_customers(CUSTOMERS, seed=7, now=NOW, progress=False)
    g.load_history(ORDERS, seed=7, now=NOW, fraud_rate=0.05, progress=False)
    return {t: query_df(f"select * from {t}") for t in
            ("pedidos", "itens_pedidos", "auditoria_pedidos", "enderecos", "fraudes_confirmadas")}


@pytest.fixture(scope="module")
def spark():
    from jornada.lake.spark import spark_session

    session = spark_session("test-fraud-lake")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def frames(spark, oltp_tables):
    return {t: spark.createDataFrame(df) for t, df in oltp_tables.items()}


@pytest.fixture(scope="module")
def features_df(frames):
    """order_features as a (cached) Spark DataFrame."""
    from jornada.lake.features import order_features

    return order_features(frames["pedidos"], frames["itens_pedidos"],
                          frames["auditoria_pedidos"], frames["enderecos"]).cache()


@pytest.fixture(scope="module")
def features(features_df):
    """order_features collected to pandas, indexed by id_pedido."""
    from jornada.lake.features import FEATURE_COLUMNS

    out = features_df.toPandas()
    assert tuple(out.columns) == FEATURE_COLUMNS
    return out.set_index("id_pedido", drop=False).sort_index()


def _library_orders(oltp_tables) -> pd.DataFrame:
    """The orders as jornada.fraud.load_orders returns them (its rules' input)."""
    return oltp_tables["pedidos"].rename(columns={"id": "id_pedido"}).merge(
        oltp_tables["auditoria_pedidos"][["id_pedido", "dispositivo", "geohash"]], on="id_pedido")


def _expected_history(oltp_tables) -> pd.DataFrame:
    """The history columns, the slow obvious way: walk each customer's orders in order."""
    p = oltp_tables["pedidos"].rename(columns={"id": "id_pedido"})
    a = oltp_tables["auditoria_pedidos"]
    o = p.merge(a[["id_pedido", "dispositivo"]], on="id_pedido", how="left")
    o = o.sort_values(["id_pessoa", "dt_venda", "id_pedido"])
    rows = []
    for _, orders in o.groupby("id_pessoa", sort=False):
        counts, leader, prev_dt, amounts = Counter(), None, None, []
        for r in orders.itertuples():
            rows.append({"id_pedido": r.id_pedido, "habitual_device": leader,
                         "device_differs": leader is not None and r.dispositivo != leader,
                         "seconds_since_prev": (None if prev_dt is None else
                                                (r.dt_venda - prev_dt).total_seconds()),
                         "n_prev_orders": len(amounts),
                         "prev_mean_amount": (float(np.mean(amounts)) if amounts else None)})
            counts[r.dispositivo] += 1
            # the habit changes only when another device strictly overtakes the current one
            if leader is None or counts[r.dispositivo] > counts[leader]:
                leader = r.dispositivo
            prev_dt = r.dt_venda
            amounts.append(float(r.valor_total))
    return pd.DataFrame(rows).set_index("id_pedido").sort_index()


def _haversine(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def test_one_row_per_order_with_amount_items_and_hour(features, oltp_tables):
    p = oltp_tables["pedidos"].set_index("id").sort_index()
    i = oltp_tables["itens_pedidos"].groupby("id_pedido")
    assert len(features) == len(p) == ORDERS
    assert features.index.is_unique and list(features.index) == list(p.index)
    assert (features["id_pessoa"] == p["id_pessoa"]).all()
    assert (features["valor_total"] == p["valor_total"].astype(float)).all()
    assert (features["n_items"] == i.size().reindex(p.index)).all()
    assert (features["units"] == i["qtde"].sum().reindex(p.index)).all()
    assert (pd.to_datetime(features["dt_venda"]) == pd.to_datetime(p["dt_venda"])).all()
    assert (features["hour"] == pd.to_datetime(p["dt_venda"]).dt.hour).all()


def test_order_and_home_places_are_the_library_answers(features, oltp_tables):
    a = oltp_tables["auditoria_pedidos"].set_index("id_pedido").reindex(features.index)
    homes = oltp_tables["enderecos"].set_index("id_pessoa")
    assert (features["geohash"] == a["geohash"]).all()
    assert (features["dispositivo"] == a["dispositivo"]).all()
    # scalar library calls: another code path than the vectorised one inside the UDF
    expected_uf = [geo.state_of_geohash(g) for g in features["geohash"]]
    assert features["uf"].tolist() == expected_uf
    assert set(features["uf"].dropna()) > {"SP", "MG", "RJ"}  # frauds come from elsewhere too
    assert features["uf"].isna().sum() > 0                      # ... and from abroad
    home = homes.reindex(features["id_pessoa"])
    assert features["home_uf"].tolist() == home["uf"].tolist()
    assert features["home_geohash"].tolist() == home["geohash"].tolist()
    expected_km = [_haversine(*geo.decode(g), *geo.decode(h))
                   for g, h in zip(features["geohash"], features["home_geohash"])]
    assert np.allclose(features["distance_home_km"], expected_km, rtol=1e-9, atol=1e-6)
    assert features["distance_home_km"].max() > 300  # the location frauds are far from home


def test_history_columns_read_only_earlier_orders(features, oltp_tables):
    expected = _expected_history(oltp_tables).reindex(features.index)
    assert features["habitual_device"].tolist() == expected["habitual_device"].tolist()
    assert features["device_differs"].tolist() == expected["device_differs"].tolist()
    assert features["n_prev_orders"].tolist() == expected["n_prev_orders"].tolist()
    assert np.allclose(features["seconds_since_prev"].astype(float),
                       expected["seconds_since_prev"].astype(float), equal_nan=True)
    assert np.allclose(features["prev_mean_amount"].astype(float),
                       expected["prev_mean_amount"].astype(float), equal_nan=True)
    first = features["n_prev_orders"] == 0
    assert first.sum() > 50 and features.loc[first, "habitual_device"].isna().all()
    assert not features.loc[first, "device_differs"].any()   # no history, no device signal
    assert features["device_differs"].sum() > 20


def test_device_differs_is_the_librarys_habitual_device_rule(features, oltp_tables):
    lib = fraud.device_flags(_library_orders(oltp_tables), "habitual").reindex(features.index)
    assert features["device_differs"].tolist() == lib.tolist()


def test_spark_rules_give_the_librarys_flags_order_by_order(features_df, oltp_tables):
    from jornada.lake.rules import rule_flags

    got = rule_flags(features_df).toPandas().set_index("id_pedido").sort_index()
    orders = _library_orders(oltp_tables)
    location = fraud.location_flags(orders).reindex(got.index)
    device = fraud.device_flags(orders, "habitual").reindex(got.index)
    assert got["rule_location"].tolist() == location.tolist()
    assert got["rule_device"].tolist() == device.tolist()
    assert got["rule_any"].tolist() == (location | device).tolist()
    assert location.sum() > 50 and device.sum() > 20 and (location & device).sum() >= 0
    both = got["rule_location"] & got["rule_device"]
    assert all(list(r) == ["location", "device"] for r in got.loc[both, "reasons"])
    assert all(len(r) == 0 for r in got.loc[~got["rule_any"], "reasons"])


def test_location_rule_edge_cases_match_the_library(spark):
    """Blank or missing geohash: never flagged; abroad (no UF): flagged; home states: not."""
    from jornada.lake.rules import location_rule

    cells = ["6gyf4bf", "75cm2tz", "", "   ", None, "dr5regw", "6gkzwgj"]  # SP, RJ, -, -, -, New York, PR
    orders = pd.DataFrame({"id_pedido": range(len(cells)), "geohash": cells})
    pdf = orders.assign(uf=[geo.state_of_geohash(c) if c and c.strip() else None for c in cells])
    df = spark.createDataFrame(pdf, "id_pedido long, geohash string, uf string")
    got = df.select(location_rule(df["geohash"], df["uf"]).alias("f")).toPandas()["f"].tolist()
    assert got == fraud.location_flags(orders).tolist()
    assert got[2:5] == [False, False, False] and got[5] is True


def test_labels_join_apart_with_their_confirmation_time(spark, features, oltp_tables):
    from jornada.lake.features import with_labels

    labels = oltp_tables["fraudes_confirmadas"]
    feats = spark.createDataFrame(features.reset_index(drop=True)[["id_pedido", "dt_venda"]])
    got = with_labels(feats, spark.createDataFrame(labels)).toPandas().set_index("id_pedido")
    assert len(got) == ORDERS
    lab = labels.set_index("id_pedido").reindex(got.index)
    assert got["is_fraud"].tolist() == lab["tipo_fraude"].notna().tolist()
    assert got["is_fraud"].sum() == len(labels) > 100
    assert got["tipo_fraude"].fillna("-").tolist() == lab["tipo_fraude"].fillna("-").tolist()
    confirmed = got["is_fraud"]
    assert (pd.to_datetime(got.loc[confirmed, "confirmada_em"])
            == pd.to_datetime(lab.loc[confirmed, "confirmada_em"])).all()
    assert (pd.to_datetime(got.loc[confirmed, "confirmada_em"])
            > pd.to_datetime(got.loc[confirmed, "dt_venda"])).all()


def test_features_of_earlier_orders_do_not_change_when_later_orders_exist(frames, features):
    """No peeking ahead: drop every order from a date on, and the earlier rows stay the same."""
    from pyspark.sql import functions as F

    from jornada.lake.features import order_features

    cut = datetime(2025, 11, 15)
    early = frames["pedidos"].where(F.col("dt_venda") < F.lit(cut))
    got = order_features(early, frames["itens_pedidos"], frames["auditoria_pedidos"],
                         frames["enderecos"]).toPandas().set_index("id_pedido").sort_index()
    full = features.loc[got.index].drop(columns="id_pedido")
    assert 1000 < len(got) < ORDERS
    pd.testing.assert_frame_equal(got[full.columns], full, check_dtype=False)


CUTOFF = datetime(2025, 12, 2)
K = 2


@pytest.fixture(scope="module")
def labelled(features_df, frames):
    from jornada.lake.features import with_labels
    from jornada.lake.rules import rule_flags

    return with_labels(rule_flags(features_df), frames["fraudes_confirmadas"]).cache()


@pytest.fixture(scope="module")
def s3_settings():
    from jornada.config import reload
    from jornada.services import stack

    s = reload()
    stack(s).up(["s3"], log=lambda *_: None)
    return s


@pytest.fixture(scope="module")
def trained(labelled):
    from jornada.lake import model

    return model.train(labelled, CUTOFF, k=K, gap_days=7, eval_days=28)


def test_time_split_learns_only_what_was_known_at_the_cutoff(labelled, oltp_tables):
    from jornada.lake.model import TimeSplit

    split = TimeSplit(CUTOFF, gap_days=7, eval_days=28)
    train = split.training(labelled).toPandas()
    held = split.evaluation(labelled).toPandas()
    lab = oltp_tables["fraudes_confirmadas"].merge(
        oltp_tables["pedidos"][["id", "dt_venda"]], left_on="id_pedido", right_on="id")
    before = lab[lab["dt_venda"] < CUTOFF]
    known = before[before["confirmada_em"] < CUTOFF]
    late = before[before["confirmada_em"] >= CUTOFF]
    assert pd.to_datetime(train["dt_venda"]).max() < CUTOFF
    assert train["label"].sum() == len(known) > 50
    assert len(late) > 0                                   # confirmed after the cut-off ...
    assert (train.set_index("id_pedido").loc[late["id_pedido"], "label"] == 0).all()  # ... legit
    dt = pd.to_datetime(held["dt_venda"])
    assert dt.min() >= split.eval_start and dt.max() < split.eval_end
    assert split.eval_start == CUTOFF + pd.Timedelta(days=7)
    assert held["label"].sum() == held["is_fraud"].sum() > 10


def test_comparison_table_on_the_held_out_weeks(trained, oltp_tables):
    from jornada import fraud_metrics

    table = trained.table
    out = REPO_ROOT / "output" / "fraud"
    out.mkdir(parents=True, exist_ok=True)   # the numbers, for a look (nothing reads them back)
    (out / "comparison.json").write_text(table.to_json(orient="index", indent=2))
    assert set(table.index) >= {"location_rule", "device_rule", "rules_combined", "model",
                                "model_rules", "sklearn_model_rules"}
    for col in ("average_precision", "precision_at_k", "recall_at_k", "roc_auc"):
        assert table[col].between(0, 1).all(), col
    # the location rule's row, recomputed from the library's pandas rule on the same orders
    orders = _library_orders(oltp_tables)
    split = trained.split
    held = orders[(orders["dt_venda"] >= split.eval_start) & (orders["dt_venda"] < split.eval_end)]
    flags = fraud.location_flags(held)
    truth = held["id_pedido"].isin(oltp_tables["fraudes_confirmadas"]["id_pedido"]).to_numpy()
    expected = fraud_metrics.alert_metrics(held["dt_venda"].dt.date, truth, flags.to_numpy(), 0.5)
    row = table.loc["location_rule"]
    assert row["precision_at_threshold"] == pytest.approx(expected["precision"])
    assert row["recall_at_threshold"] == pytest.approx(expected["recall"])
    assert row["alerts"] == expected["alerts"] > 0
    assert trained.info["eval_frauds"] == truth.sum()
    # better than chance at ranking (the fraud rate is what a random ranking scores)
    assert table.loc["model_rules", "average_precision"] > 2 * truth.mean()


def test_the_threshold_spends_at_most_the_budget_on_the_training_weeks(trained, labelled):
    from pyspark.sql import functions as F

    from jornada.lake.model import score

    train = score(trained.model, trained.split.training(labelled)).select(
        F.to_date("dt_venda").alias("day"), "score").toPandas()
    alerts = (train["score"] >= trained.threshold).sum()
    assert 0 < alerts <= K * train["day"].nunique()


def test_model_and_manifest_round_trip_through_the_store(spark, trained, labelled, s3_settings):
    import uuid

    from jornada import s3
    from jornada.lake import model

    prefix = f"_tests/fraud-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(ValueError, match="no fraud model"):
            model.current_manifest(s3_settings, prefix)
        saved = model.save(trained, s3_settings, prefix)
        assert saved["version"].startswith("20251202-")
        assert saved["training_window"]["cutoff"] == str(CUTOFF)
        assert saved["features"] == model.model_inputs(True) and saved["threshold"] == trained.threshold
        assert saved["metrics"]["model_rules"]["average_precision"] == pytest.approx(
            trained.table.loc["model_rules", "average_precision"])
        loaded, manifest = model.load_current(spark, s3_settings, prefix=prefix)
        assert manifest == saved
        sample = trained.split.evaluation(labelled).limit(200)
        a = model.score(trained.model, sample).select("id_pedido", "score").toPandas()
        b = model.score(loaded, sample).select("id_pedido", "score").toPandas()
        assert a.sort_values("id_pedido")["score"].tolist() == pytest.approx(
            b.sort_values("id_pedido")["score"].tolist(), abs=1e-12)
        # a changed file is caught before the model is used
        key = next(k for k in s3.list_keys("models", f"{prefix}/{saved['version']}/pipeline/",
                                           s=s3_settings) if k.endswith(".json") or "metadata" in k)
        s3.put_bytes("models", key, s3.get_bytes("models", key, s=s3_settings) + b" ",
                     s=s3_settings)
        with pytest.raises(model.ModelIntegrityError):
            model.load_current(spark, s3_settings, prefix=prefix)
    finally:
        s3.delete_prefix("models", prefix + "/", s=s3_settings)
