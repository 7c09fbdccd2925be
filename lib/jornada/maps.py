"""Folium maps of the shop's orders: where legit and fraudulent orders come from.

Two maps, both built from a DataFrame with one row per order and either a ``geohash`` column
(the audit row's geohash) or ``lat``/``lon`` columns:

* :func:`orders_map` — legit orders in blue, fraud in red (lessons 02 and 07);
* :func:`fraud_map` — how a rule did: caught frauds (true positives), false alarms (false
  positives) and missed frauds (false negatives), over the unflagged legit orders.

Both draw the 27 state borders (``geo.states_geojson()``) as a light layer with the shop's home
states SP, MG and RJ highlighted, a legend and a layer switcher. Points are drawn as GeoJSON
circle markers (one layer per class), which keeps the saved HTML small; above ``max_points``
orders the *legit* ones are sampled deterministically (same seed ⇒ same points) and every fraud
is kept, because the rare class is the one the map is about.

Tiles are referenced by URL only: building and saving a map needs no network (CI is offline); a
learner's browser fetches the tiles when the HTML is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from . import geo

HOME_STATES = ("SP", "MG", "RJ")

LEGIT_COLOR = "#2563eb"   # blue
FRAUD_COLOR = "#dc2626"   # red
TP_COLOR = "#dc2626"      # red: fraud the rule caught
FP_COLOR = "#f59e0b"      # amber: legit order the rule flagged (false alarm)
FN_COLOR = "#7c3aed"      # purple: fraud the rule missed
TN_COLOR = "#94a3b8"      # slate: legit, not flagged

HOME_FILL = "#16a34a"     # green tint on SP/MG/RJ
BORDER_COLOR = "#64748b"

LABEL_CANDIDATES = ("fraude", "is_fraud", "fraud", "label", "e_fraude", "tipo_fraude")
TILES = "OpenStreetMap"
LEGEND_CLASS = "jornada-legend"


# ---- inputs ------------------------------------------------------------------------------------
def _label_column(orders: pd.DataFrame, label: str | None) -> str:
    if label is not None:
        if label not in orders.columns:
            raise ValueError(f"label column {label!r} not in the DataFrame (columns: {list(orders.columns)})")
        return label
    for name in LABEL_CANDIDATES:
        if name in orders.columns:
            return name
    raise ValueError("orders need a boolean fraud column: name it with label=... "
                     f"(looked for {', '.join(LABEL_CANDIDATES)})")


def _as_bool(values: pd.Series) -> pd.Series:
    """True/False from booleans, 0/1 or fraud-type strings (None/''/'legit' = False)."""
    if values.dtype == bool:
        return values
    if pd.api.types.is_numeric_dtype(values):
        return values.fillna(0).astype(bool)

    def one(v) -> bool:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return False
        if isinstance(v, str):
            return v.strip().lower() not in ("", "legit", "false", "0", "no", "nao", "não")
        return bool(v)

    return values.map(one).astype(bool)


def with_coordinates(orders: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``lat``/``lon`` (decoded from ``geohash`` when absent) and ``uf`` columns."""
    df = orders.copy()
    if not {"lat", "lon"} <= set(df.columns):
        if "geohash" not in df.columns:
            raise ValueError("orders need a 'geohash' column or 'lat' and 'lon' columns")
        lats, lons = geo.decode_many(df["geohash"])
        df["lat"], df["lon"] = lats, lons
    if "uf" not in df.columns:
        df["uf"] = geo.states_of(df["lat"], df["lon"]) if len(df) else []
    return df


def sample_orders(orders: pd.DataFrame, keep: pd.Series, max_points: int = 5000,
                  seed: int = 0) -> pd.DataFrame:
    """At most ``max_points`` rows, always including every row where ``keep`` is True.

    The rows not kept are sampled with a seeded generator, so the same input and seed give the
    same points; the original row order is preserved. If the kept rows alone exceed
    ``max_points`` they are all returned (a map that hides frauds would be wrong, not small).
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    keep = pd.Series(np.asarray(keep, dtype=bool), index=orders.index)
    if len(orders) <= max_points:
        return orders
    must = np.flatnonzero(keep.to_numpy())
    rest = np.flatnonzero(~keep.to_numpy())
    room = max(0, max_points - must.size)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(rest, size=min(room, rest.size), replace=False) if room else np.empty(0, int)
    rows = np.sort(np.concatenate([must, chosen]).astype(int))
    return orders.iloc[rows]


# ---- layers ------------------------------------------------------------------------------------
def states_layer(name: str = "state borders (SP, MG, RJ highlighted)"):
    """The 27 UF borders as a light GeoJson layer; the home states SP/MG/RJ are tinted green."""
    import folium

    def style(feature):
        home = feature["properties"].get("uf") in HOME_STATES
        return {"color": HOME_FILL if home else BORDER_COLOR, "weight": 2 if home else 0.8,
                "fillColor": HOME_FILL if home else "#ffffff",
                "fillOpacity": 0.12 if home else 0.0, "opacity": 0.9 if home else 0.5}

    return folium.GeoJson(
        geo.states_geojson(), name=name, style_function=style, control=True,
        tooltip=folium.GeoJsonTooltip(fields=["uf", "name"], aliases=["UF", "state"]),
        smooth_factor=1.0,
    )


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _points_layer(df: pd.DataFrame, name: str, color: str, radius: float, show: bool = True,
                  opacity: float = 0.8):
    """One class of orders as GeoJSON circle markers with a tooltip (order, UF, device, …)."""
    import folium

    fields = [c for c in ("id_pedido", "uf", "dispositivo", "dt_venda", "tipo_fraude", "regra")
              if c in df.columns]
    aliases = {"id_pedido": "order", "uf": "UF", "dispositivo": "device", "dt_venda": "sold at",
               "tipo_fraude": "fraud type", "regra": "rule"}
    features = []
    for row in df.itertuples(index=False):
        rec = row._asdict()
        props = {f: _fmt(rec[f]) for f in fields}
        if "uf" in props and props["uf"] == "–":
            props["uf"] = "outside Brazil"
        props["class"] = name
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "Point",
                                      "coordinates": [round(float(rec["lon"]), 6),
                                                      round(float(rec["lat"]), 6)]}})
    data = {"type": "FeatureCollection", "features": features}
    tip_fields = ["class", *fields]
    return folium.GeoJson(
        data, name=f"{name} ({len(features):,})", show=show,
        marker=folium.CircleMarker(radius=radius, color=color, fill=True, fill_color=color,
                                   fill_opacity=opacity, weight=1),
        # folium validates tooltip fields against the features: an empty layer gets none
        tooltip=folium.GeoJsonTooltip(fields=tip_fields, aliases=["", *[aliases[f] for f in fields]])
        if features else None,
    )


def _legend(title: str, items: Iterable[tuple[str, str, int]]):
    """A fixed-position HTML legend: (label, colour, count) per row."""
    from branca.element import MacroElement, Template

    rows = "".join(
        f'<div><span style="display:inline-block;width:11px;height:11px;border-radius:50%;'
        f'background:{color};margin-right:6px;border:1px solid #333"></span>{label}'
        f' <span style="color:#666">({count:,})</span></div>'
        for label, color, count in items)
    rows += (f'<div><span style="display:inline-block;width:11px;height:11px;background:{HOME_FILL};'
             f'opacity:.4;margin-right:6px;border:1px solid {HOME_FILL}"></span>'
             'home states SP, MG, RJ</div>')
    html = (f'<div class="{LEGEND_CLASS}" style="position:fixed;bottom:24px;left:24px;z-index:9999;'
            'background:white;padding:8px 10px;border:1px solid #999;border-radius:6px;'
            f'font:12px sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)"><b>{title}</b>{rows}</div>')
    macro = MacroElement()
    macro._template = Template("{% macro html(this, kwargs) %}" + html + "{% endmacro %}")
    return macro


def _base_map(df: pd.DataFrame):
    import folium

    m = folium.Map(location=[-21.0, -46.0], zoom_start=5, tiles=TILES, control_scale=True,
                   prefer_canvas=True)
    if len(df):
        m.fit_bounds([[float(df["lat"].min()), float(df["lon"].min())],
                      [float(df["lat"].max()), float(df["lon"].max())]], padding=(20, 20))
    states_layer().add_to(m)
    return m


# ---- maps --------------------------------------------------------------------------------------
def orders_map(orders: pd.DataFrame, *, label: str | None = None, max_points: int = 5000,
               seed: int = 0, title: str = "Liga Sudoers orders"):
    """Legit (blue) vs fraud (red) orders over the state borders.

    ``orders``: one row per order with ``geohash`` (or ``lat``/``lon``) and a fraud column —
    boolean, 0/1 or the fraud type (``fraude``, ``is_fraud``, ``fraud``, ``label`` are found
    automatically; otherwise pass ``label=``). Optional columns shown in the tooltip:
    ``id_pedido``, ``uf``, ``dispositivo``, ``dt_venda``, ``tipo_fraude``.
    """
    import folium

    col = _label_column(orders, label)
    is_fraud = _as_bool(orders[col])
    picked = sample_orders(orders, is_fraud, max_points=max_points, seed=seed)
    df = with_coordinates(picked)
    fraud = _as_bool(df[col]).to_numpy()
    m = _base_map(df)
    legit_df, fraud_df = df[~fraud], df[fraud]
    _points_layer(legit_df, "legit", LEGIT_COLOR, radius=3, opacity=0.5).add_to(m)
    _points_layer(fraud_df, "fraud", FRAUD_COLOR, radius=5, opacity=0.9).add_to(m)
    sampled = f" — {len(df):,} of {len(orders):,} drawn, every fraud kept" if len(df) < len(orders) else ""
    m.get_root().add_child(_legend(
        title + sampled, [("legit", LEGIT_COLOR, len(legit_df)), ("fraud", FRAUD_COLOR, len(fraud_df))]))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _flag_series(flags, index: pd.Index, ids: pd.Series | None) -> pd.Series:
    """One boolean per order from a Series (by position or by id_pedido), array, or dict (OR)."""
    if isinstance(flags, Mapping):
        combined = pd.Series(False, index=index)
        for f in flags.values():
            combined |= _flag_series(f, index, ids)
        return combined
    if isinstance(flags, pd.Series):
        if ids is not None and flags.index.isin(ids).all() and not flags.index.equals(index):
            return pd.Series(_as_bool(flags).reindex(ids.to_numpy()).fillna(False).to_numpy(dtype=bool),
                             index=index)
        if flags.index.equals(index):
            return _as_bool(flags)
    arr = np.asarray(flags, dtype=bool)
    if arr.shape != (len(index),):
        raise ValueError(f"flags must have one value per order ({len(index)}), got shape {arr.shape}")
    return pd.Series(arr, index=index)


def _label_series(labels, orders: pd.DataFrame) -> pd.Series:
    """Ground truth per order from: a DataFrame with id_pedido (each row a confirmed fraud, or a
    fraud column), a boolean Series (by position or id_pedido), or a collection of fraud ids."""
    ids = orders["id_pedido"] if "id_pedido" in orders.columns else None
    if isinstance(labels, pd.DataFrame):
        if "id_pedido" not in labels.columns or ids is None:
            raise ValueError("labels as a DataFrame need an id_pedido column, and so do the orders")
        cols = [c for c in LABEL_CANDIDATES if c in labels.columns]
        fraud_ids = labels.loc[_as_bool(labels[cols[0]]), "id_pedido"] if cols else labels["id_pedido"]
        return pd.Series(ids.isin(set(fraud_ids)).to_numpy(), index=orders.index)
    if isinstance(labels, pd.Series) or isinstance(labels, np.ndarray):
        return _flag_series(labels, orders.index, ids)
    if ids is None:
        raise ValueError("labels as a collection of ids need an id_pedido column in the orders")
    return pd.Series(ids.isin(set(labels)).to_numpy(), index=orders.index)


def outcome_labels(flagged: pd.Series, truth: pd.Series) -> pd.Series:
    """'caught' (TP), 'false alarm' (FP), 'missed' (FN) or 'legit' (TN) per order."""
    out = np.where(flagged & truth, "caught",
                   np.where(flagged & ~truth, "false alarm", np.where(~flagged & truth, "missed", "legit")))
    return pd.Series(out, index=flagged.index)


def fraud_map(orders: pd.DataFrame, flags, labels, *, max_points: int = 5000, seed: int = 0,
              title: str = "Fraud rule vs confirmed frauds"):
    """How a rule did on a map: caught frauds (red), false alarms (amber), missed frauds (purple)
    over the unflagged legit orders (grey, sampled above ``max_points``).

    ``flags``: what the rule flagged — a boolean Series aligned with ``orders`` or indexed by
    ``id_pedido``, an array, or a dict of such Series (rule name → flags; an order counts as
    flagged if any rule flags it). ``labels``: the truth — e.g. ``fraud.load_labels()`` (a
    DataFrame of confirmed frauds with ``id_pedido``), a boolean Series, or a set of fraud ids.
    """
    import folium

    ids = orders["id_pedido"] if "id_pedido" in orders.columns else None
    flagged = _flag_series(flags, orders.index, ids)
    truth = _label_series(labels, orders)
    outcome = outcome_labels(flagged, truth)
    df0 = orders.assign(resultado=outcome.to_numpy())
    picked = sample_orders(df0, (outcome != "legit").to_numpy(), max_points=max_points, seed=seed)
    df = with_coordinates(picked)
    m = _base_map(df)
    classes = [("legit", "legit, not flagged", TN_COLOR, 2.5, 0.4),
               ("false alarm", "false alarm (FP)", FP_COLOR, 4, 0.9),
               ("missed", "missed fraud (FN)", FN_COLOR, 5, 0.9),
               ("caught", "caught fraud (TP)", TP_COLOR, 5, 0.9)]
    items = []
    for key, label, color, radius, opacity in classes:
        part = df[df["resultado"] == key]
        _points_layer(part, label, color, radius=radius, opacity=opacity).add_to(m)
        items.append((label, color, len(part)))
    m.get_root().add_child(_legend(title, items))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def save_map(m, path: str | Path) -> Path:
    """Write the map as a standalone HTML file (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m.save(str(path))
    return path
