"""Folium maps of orders: pure tests (no services), offline — saving a map fetches nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from jornada import geo, maps

pytestmark = pytest.mark.unit

# Legit homes (incl. the places a prefix/cell list gets wrong) and fraud places.
PLACES = {
    "São Paulo": (-23.5505, -46.6333, False),
    "Osasco": (-23.5329, -46.7917, False),
    "Pampulha (BH)": (-19.8512, -43.9713, False),
    "Barra da Tijuca (Rio)": (-23.0004, -43.3659, False),
    "Vitória (ES)": (-20.2976, -40.3300, True),
    "Cuiabá (MT)": (-15.6014, -56.0979, True),
    "Pacific off Peru": (-14.1504, -77.1680, True),
}


def small_orders() -> pd.DataFrame:
    rows = []
    for i, (name, (lat, lon, fraud)) in enumerate(PLACES.items(), start=1):
        rows.append({"id_pedido": i, "geohash": geo.encode(lat, lon, 7), "cidade": name,
                     "dispositivo": "iPhone 15" if fraud else "Motorola Moto G84", "fraude": fraud})
    return pd.DataFrame(rows)


def big_orders(n: int = 3000, n_fraud: int = 40) -> pd.DataFrame:
    legit = [(-23.55 + (i % 50) * 0.01, -46.63 + (i // 50) * 0.01) for i in range(n - n_fraud)]
    fraud = [(-15.60 + (i % 7) * 0.01, -56.09 + (i // 7) * 0.01) for i in range(n_fraud)]
    df = pd.DataFrame(legit + fraud, columns=["lat", "lon"])
    df["id_pedido"] = range(1, n + 1)
    df["fraude"] = [False] * (n - n_fraud) + [True] * n_fraud
    return df.sample(frac=1.0, random_state=7).reset_index(drop=True)  # frauds scattered


def test_orders_map_has_states_both_colours_and_legend(tmp_path):
    m = maps.orders_map(small_orders())
    path = maps.save_map(m, tmp_path / "sub" / "orders.html")
    html = path.read_text()
    assert path.exists() and path.stat().st_size > 10_000
    assert "state borders" in html and '"uf": "MG"' in html and '"uf": "ES"' in html
    assert maps.LEGIT_COLOR in html and maps.FRAUD_COLOR in html
    assert maps.LEGEND_CLASS in html and "legit" in html and "fraud" in html
    assert "L.control.layers" in html  # the layer switcher
    assert "Moto G84" in html and "iPhone 15" in html  # device in the tooltips' data
    assert "outside Brazil" in html  # the Pacific point has no UF


def test_uf_is_computed_by_polygon():
    df = maps.with_coordinates(small_orders())
    uf = dict(zip(df["cidade"], df["uf"]))
    assert uf["Osasco"] == "SP" and uf["Pampulha (BH)"] == "MG" and uf["Barra da Tijuca (Rio)"] == "RJ"
    assert uf["Vitória (ES)"] == "ES" and uf["Cuiabá (MT)"] == "MT" and uf["Pacific off Peru"] is None


def test_lat_lon_and_string_labels_are_accepted(tmp_path):
    df = big_orders(50, 5).assign(tipo=lambda d: d["fraude"].map({True: "localizacao", False: None}))
    html = maps.save_map(maps.orders_map(df.drop(columns="fraude"), label="tipo"), tmp_path / "m.html").read_text()
    assert maps.FRAUD_COLOR in html and maps.LEGIT_COLOR in html


def test_missing_columns_are_explained():
    with pytest.raises(ValueError, match="fraud column"):
        maps.orders_map(pd.DataFrame({"geohash": ["6gyf4bf"]}))
    with pytest.raises(ValueError, match="geohash"):
        maps.orders_map(pd.DataFrame({"fraude": [True]}))


def test_sampling_keeps_every_fraud_and_is_deterministic():
    df = big_orders()
    a = maps.sample_orders(df, df["fraude"], max_points=500, seed=3)
    b = maps.sample_orders(df, df["fraude"], max_points=500, seed=3)
    c = maps.sample_orders(df, df["fraude"], max_points=500, seed=4)
    assert len(a) == 500
    assert a["fraude"].sum() == df["fraude"].sum() == 40
    assert a["id_pedido"].tolist() == b["id_pedido"].tolist()
    assert a["id_pedido"].tolist() != c["id_pedido"].tolist()
    assert a.index.is_monotonic_increasing  # original order kept
    # below the limit nothing is dropped; above it with too many frauds, frauds still all stay
    assert len(maps.sample_orders(df, df["fraude"], max_points=5000)) == len(df)
    assert maps.sample_orders(df, df["fraude"], max_points=10)["fraude"].all()
    assert len(maps.sample_orders(df, df["fraude"], max_points=10)) == 40


def test_orders_map_draws_all_frauds_when_sampling(tmp_path):
    df = big_orders()
    html = maps.save_map(maps.orders_map(df, max_points=300, seed=1), tmp_path / "m.html").read_text()
    assert "fraud (40)" in html and "legit (260)" in html
    assert "every fraud kept" in html


def test_fraud_map_shows_caught_false_alarms_and_missed(tmp_path):
    df = small_orders()
    # rule flags Osasco (false alarm), Vitória and Cuiabá (caught), misses the Pacific
    flagged = pd.Series(df["cidade"].isin(["Osasco", "Vitória (ES)", "Cuiabá (MT)"]).to_numpy(),
                        index=df["id_pedido"])
    labels = pd.DataFrame({"id_pedido": df.loc[df["fraude"], "id_pedido"], "tipo_fraude": "localizacao"})
    outcome = maps.outcome_labels(maps._flag_series(flagged, df.index, df["id_pedido"]),
                                  maps._label_series(labels, df))
    assert dict(zip(df["cidade"], outcome)) == {
        "São Paulo": "legit", "Osasco": "false alarm", "Pampulha (BH)": "legit",
        "Barra da Tijuca (Rio)": "legit", "Vitória (ES)": "caught", "Cuiabá (MT)": "caught",
        "Pacific off Peru": "missed"}
    m = maps.fraud_map(df, {"location": flagged}, labels)
    html = maps.save_map(m, tmp_path / "fraud.html").read_text()
    for color in (maps.TP_COLOR, maps.FP_COLOR, maps.FN_COLOR, maps.TN_COLOR):
        assert color in html
    assert "caught fraud (TP) (2)" in html and "false alarm (FP) (1)" in html
    assert "missed fraud (FN) (1)" in html and maps.LEGEND_CLASS in html


def test_an_empty_frame_still_gives_a_map(tmp_path):
    empty = pd.DataFrame({"geohash": pd.Series([], dtype=object), "fraude": pd.Series([], dtype=bool)})
    html = maps.save_map(maps.orders_map(empty), tmp_path / "empty.html").read_text()
    assert "state borders" in html and "fraud (0)" in html
