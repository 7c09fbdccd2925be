"""Folium maps of orders: pure tests (no services), offline — saving a map fetches nothing.

The offline-save tests read the npm copies of Leaflet & co.: `make web-assets` fetches them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from jornada import geo, maps
from jornada.config import REPO_ROOT

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


# ---- popups, clusters, legend ------------------------------------------------------------------
def _points(m) -> dict:
    return {c.key: c for c in m._children.values() if getattr(c, "_name", "") == "ClusteredPoints"}


def test_popups_show_the_columns_that_exist_and_no_empty_label():
    df = small_orders().assign(id_pessoa=lambda d: d["id_pedido"] + 100,
                               tipo_fraude=lambda d: d["fraude"].map({True: "localizacao", False: None}))
    layers = _points(maps.orders_map(df))
    assert set(layers) == {"legit", "fraud"}
    for layer in layers.values():
        p = layer.params
        assert [c for c, _ in p["popup"]] == ["id_pedido", "id_pessoa", "uf", "dispositivo", "tipo_fraude"]
        assert all(label.strip() for _, label in p["popup"] + p["tips"])
        assert [c for c, _ in p["tips"]] == ["id_pedido", "uf"]
    legit = layers["legit"].params["features"][0]["properties"]
    assert "tipo_fraude" not in legit  # an empty cell is left out, not shown as a blank row
    fraud = layers["fraud"].params["features"][0]["properties"]
    assert fraud["tipo_fraude"] == "localizacao" and fraud["id_pedido"].isdigit()


def test_popup_fields_are_a_parameter_for_other_maps():
    """Lesson 07's alerts map: score, reasons and model version in the popup."""
    df = small_orders().assign(score=[0.1, 0.2, 0.15, 0.3, 0.91, 0.88, 0.97],
                               motivos=[[], [], [], [], ["far from home"], ["new device", "far"], ["far"]],
                               versao_modelo="v3")
    fields = {"id_pedido": "order", "id_pessoa": "customer", "score": "score", "motivos": "reasons",
              "versao_modelo": "model version"}
    flagged = pd.Series((df["score"] > 0.5).to_numpy(), index=df.index)
    m = maps.fraud_map(df, flagged, set(df.loc[df["fraude"], "id_pedido"]), popup_fields=fields)
    tp = _points(m)["tp"].params
    assert tp["popup"] == [("id_pedido", "order"), ("score", "score"), ("motivos", "reasons"),
                           ("versao_modelo", "model version")]  # no id_pessoa column: skipped
    props = [f["properties"] for f in tp["features"]]
    assert {p["score"] for p in props} == {"0.91", "0.88", "0.97"}
    assert "new device, far" in {p["motivos"] for p in props} and props[0]["versao_modelo"] == "v3"
    # a list of columns takes the default labels; a single layer can have its own cluster group
    one = maps.points_layer(maps.with_coordinates(df), "alerts", "alerts", "#000",
                            popup_fields=["id_pedido", "score", "uf"])
    assert one.params["popup"] == [("id_pedido", "order"), ("score", "score"), ("uf", "UF")]
    assert one.cluster is None
    with pytest.raises(ValueError, match="key"):
        maps.points_layer(maps.with_coordinates(df), "Has Space", "x", "#000")


def test_legend_is_a_control_above_the_scale_and_states_are_tagged(tmp_path):
    html = maps.save_map(maps.orders_map(small_orders()), tmp_path / "m.html", offline=False).read_text()
    assert 'L.control({position: "bottomleft"})' in html  # added after the scale: stacks above it
    assert "L.control.scale()" in html
    assert html.index("L.control.scale()") < html.index('L.control({position: "bottomleft"})')
    assert f'"className": "{maps.STATE_CLASS}"' in html
    assert "L.markerClusterGroup" in html and "data-n-" in html


# ---- offline assets ----------------------------------------------------------------------------
def _folium_urls() -> list[str]:
    import folium.folium

    return [u for _, u in folium.folium._default_js + folium.folium._default_css]


def test_every_cdn_url_has_a_local_file_once_fetched():
    """Every asset folium 0.20 links, and the cluster plugin, maps to a fetched npm file."""
    ours = [u for _, u in maps._element_classes()["ClusteredPoints"].default_js
            + maps._element_classes()["ClusteredPoints"].default_css]
    for url in _folium_urls() + ours:
        assert url in maps.CDN_FILES, f"{url} is linked by folium but has no row in maps.CDN_FILES"
        rel = maps.CDN_FILES[url]
        if rel is None:  # not on npm at that version: only for icons our maps never draw
            assert url in maps._ONLY_IF, url
            continue
        assert maps.local_asset(url) is not None, (
            f"{maps.web_assets_dir() / rel} is missing (for {url}): {maps.FETCH_HINT}")
    pinned = json.loads((REPO_ROOT / "stack" / "web" / "package.json").read_text())["dependencies"]
    for url, rel in maps.CDN_FILES.items():  # same version on the CDN and in package.json
        if rel is None:
            continue
        package = rel.split("/")[0] if not rel.startswith("@") else "/".join(rel.split("/")[:2])
        assert pinned[package] in url, f"{url} vs {package}@{pinned[package]}"


def test_offline_save_inlines_everything_the_map_needs(tmp_path):
    path = maps.save_map(maps.orders_map(small_orders()), tmp_path / "m.html", offline=True)
    html = path.read_text()
    assert isinstance(path, Path) and path.offline is True and path.remote == ()
    assert re.findall(r'<script src="https?://|<link rel="stylesheet" href="https?://', html) == []
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in path.inlined
    assert f"{maps._MC}/leaflet.markercluster.js" in path.inlined
    assert "url(images/layers.png)" not in html and "data:image/png;base64," in html
    assert "sourceMappingURL" not in html
    # no Font Awesome / Awesome Markers without a folium.Icon
    assert "not needed offline: https://cdn.jsdelivr.net/npm/@fortawesome" in html
    assert "tile.openstreetmap.org" in html  # tiles still come from the network when there is one


def test_offline_save_with_font_awesome_icons(tmp_path):
    import folium

    m = maps.orders_map(small_orders())
    folium.Marker([-23.55, -46.63], icon=folium.Icon(prefix="fa", icon="store", color="green",
                                                     angle=45)).add_to(m)
    path = maps.save_map(m, tmp_path / "icons.html", offline=True)
    html = path.read_text()
    assert path.offline and path.remote == ()
    assert "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css" in path.inlined
    assert "font/woff2;base64," in html and ".ttf" not in html
    assert "data:image/png;base64," in html  # the awesome-markers sprite
    assert ".fa-rotate-45{transform:rotate(45deg)}" in html
    # folium.Icon's default prefix is Bootstrap 3's glyphicon, not on npm: kept as a CDN link
    folium.Marker([-22.9, -43.2], icon=folium.Icon(icon="info-sign")).add_to(m)
    path = maps.save_map(m, tmp_path / "glyph.html", offline=True)
    assert path.offline is False and path.remote == (
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",)


def test_without_assets_auto_writes_the_cdn_version(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(maps.WEB_ASSETS_ENV, str(tmp_path / "nothing-here"))
    assert not maps.assets_available() and maps.missing_assets()
    with caplog.at_level("INFO", logger="jornada.maps"):
        path = maps.save_map(maps.orders_map(small_orders()), tmp_path / "m.html")
    assert path.offline is False and path.inlined == ()
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in path.remote
    assert '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js">' in path.read_text()
    assert "make web-assets" in caplog.text
    with pytest.raises(FileNotFoundError, match="make web-assets"):
        maps.save_map(maps.orders_map(small_orders()), tmp_path / "strict.html", offline=True)
