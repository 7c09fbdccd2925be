"""Folium maps of the shop's orders: where legit and fraudulent orders come from.

Two maps, both built from a DataFrame with one row per order and either a ``geohash`` column
(the audit row's geohash) or ``lat``/``lon`` columns:

* :func:`orders_map` — legit orders in blue, fraud in red (lessons 02 and 07);
* :func:`fraud_map` — how a rule did: caught frauds (true positives), false alarms (false
  positives) and missed frauds (false negatives), over the unflagged legit orders.

Both draw the 27 state borders (``geo.states_geojson()``) as a light layer with the shop's home
states SP, MG and RJ highlighted, a legend (a Leaflet control above the scale bar) and a layer
switcher. Each class of orders is its own layer of **clustered** circle markers
(:func:`points_layer`): nearby orders of one class merge into a numbered circle of that class's
colour, sized by the log of its count, so at country zoom a city with 2,000 legit orders and 20
frauds shows a large blue "2,000" and a small red "20" on top of it — neither hides the other.
Zooming in splits the clusters down to single dots; clicking a dot opens a popup with the order,
customer, UF, device, date and fraud type (whichever columns exist; ``popup_fields=`` chooses).
Above ``max_points`` orders the *legit* ones are sampled deterministically (same seed ⇒ same
points) and every fraud is kept, because the rare class is the one the map is about.

Saving (:func:`save_map`) writes a standalone HTML file. Folium links Leaflet, jQuery, Bootstrap
and the marker-cluster plugin from CDNs; with the same versions fetched from the npm registry
(``make web-assets`` → ``.cache/web/node_modules``, see :data:`CDN_FILES`) the saved file has them
inlined and opens with no internet. Only the OpenStreetMap tiles still need the network; without
them the borders and the orders are drawn on a plain background.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import string
from pathlib import Path
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from . import geo
from .config import REPO_ROOT

log = logging.getLogger(__name__)

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
# Popup rows, in this order, for whichever of these columns the DataFrame has (column → label).
POPUP_FIELDS = {"id_pedido": "order", "id_pessoa": "customer", "uf": "UF", "dispositivo": "device",
                "dt_venda": "date", "tipo_fraude": "fraud type", "regra": "rule"}
TOOLTIP_FIELDS = ("id_pedido", "uf")
STATE_CLASS = "jornada-state"           # class of each state border <path> (27 of them)
POINT_CLASS = "jornada-point"           # + f"{POINT_CLASS}-{key}" on each single order's dot
CLUSTER_CLASS = "jornada-cluster"       # + f"{CLUSTER_CLASS}-{key}" on each numbered cluster
MARKERCLUSTER_VERSION = "1.5.3"
_MC = f"https://cdn.jsdelivr.net/npm/leaflet.markercluster@{MARKERCLUSTER_VERSION}/dist"


def states_layer(name: str = "state borders (SP, MG, RJ highlighted)"):
    """The 27 UF borders as a light GeoJson layer; the home states SP/MG/RJ are tinted green."""
    import folium

    def style(feature):
        home = feature["properties"].get("uf") in HOME_STATES
        return {"color": HOME_FILL if home else BORDER_COLOR, "weight": 2 if home else 0.8,
                "fillColor": HOME_FILL if home else "#ffffff",
                "fillOpacity": 0.12 if home else 0.0, "opacity": 0.9 if home else 0.5,
                "className": STATE_CLASS}

    return folium.GeoJson(
        geo.states_geojson(), name=name, style_function=style, control=True,
        tooltip=folium.GeoJsonTooltip(fields=["uf", "name"], aliases=["UF", "state"]),
        smooth_factor=1.0,
    )


def _fmt(value) -> str | None:
    """A cell as popup text; None for a missing value (the row is left out of the popup)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, (float, np.floating)):  # an id read as float, a score, an amount
        return str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0")
    text = str(value)
    return text if text.strip() else None


def _field_labels(df: pd.DataFrame, fields) -> list[tuple[str, str]]:
    """(column, label) for the fields that exist in ``df``: a mapping column → label, a sequence of
    columns (labels from :data:`POPUP_FIELDS`, else the column name) or None (POPUP_FIELDS)."""
    if fields is None:
        fields = POPUP_FIELDS
    if isinstance(fields, str):
        fields = [fields]
    pairs = fields.items() if isinstance(fields, Mapping) else \
        ((f, POPUP_FIELDS.get(f, f.replace("_", " "))) for f in fields)
    return [(str(c), str(label)) for c, label in pairs if c in df.columns]


def _js(value) -> str:
    """JSON that is safe inside a <script> (no '</script>' can end it early)."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _map_of(element):
    import folium

    node = element
    while node is not None and not isinstance(node, folium.Map):
        node = getattr(node, "_parent", None)
    if node is None:
        raise ValueError("add the layer to a folium.Map (directly or inside a FeatureGroup) first")
    return node


# The page-side helpers, defined once per page by whichever layer's script runs first.
_HELPERS_JS = """
if (!window.jornadaMaps) { window.jornadaMaps = (function () {
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (ch) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch]; });
  }
  function fmt(n) { return n.toLocaleString("en-US"); }
  function pane(map, id, z) { if (!map.getPane(id)) { map.createPane(id).style.zIndex = z; } return id; }
  // One icon per cluster for every class in it: a disc of the largest class's colour with its
  // count, and a tag per other class (count on the class's colour) beside the disc, so a
  // handful of frauds among thousands of legit orders is a red "12" next to a blue "2,400".
  function clusterIcon(cluster) {
    var counts = {}, info = {}, ms = cluster.getAllChildMarkers();
    for (var i = 0; i < ms.length; i++) {
      var o = ms[i].options, k = o.jornadaKey;
      counts[k] = (counts[k] || 0) + 1; info[k] = {color: o.fillColor, z: o.jornadaZ};
    }
    var keys = Object.keys(counts).sort(function (a, b) {
      return counts[b] - counts[a] || info[a].z - info[b].z; });
    var main = keys[0], d = Math.round(%(icon_min)s + %(icon_step)s * Math.log10(counts[main]));
    var html = '<div class="disc" style="background:' + info[main].color + '">' + fmt(counts[main]) + '</div>';
    keys.slice(1).sort(function (a, b) { return info[b].z - info[a].z; }).forEach(function (k, i) {
      html += '<div class="tag" style="background:' + info[k].color + ';left:' + (d - 3) + 'px;top:'
        + (i * 17 - 7) + 'px">' + fmt(counts[k]) + '</div>';
    });
    var attrs = keys.map(function (k) { return ' data-n-' + k + '="' + counts[k] + '"'; }).join("");
    return L.divIcon({html: '<div class="box"' + attrs + '>' + html + '</div>',
                      className: %(cluster_class)s, iconSize: L.point(d, d)});
  }
  function cluster(map, radius) {
    return L.markerClusterGroup({
      clusterPane: pane(map, "jornada-clusters", 610), maxClusterRadius: radius,
      showCoverageOnHover: false, spiderfyOnMaxZoom: true, removeOutsideVisibleBounds: false,
      iconCreateFunction: clusterIcon});
  }
  // The layer in the switcher: adds its markers to the (shared) cluster group, removes them.
  var Points = L.Layer.extend({
    initialize: function (group, markers) { this.group = group; this.markers = markers; },
    onAdd: function () { this.group.addLayers(this.markers); },
    onRemove: function () { this.group.removeLayers(this.markers); },
    shown: function () { var g = this.group; return this.markers.filter(function (m) { return g.hasLayer(m); }).length; }
  });
  return {esc: esc, fmt: fmt, pane: pane, cluster: cluster, Points: Points};
})(); }
""" % {"icon_min": 18, "icon_step": 7, "cluster_class": json.dumps(CLUSTER_CLASS)}

_CLUSTER_JS = string.Template("""$helpers
var $name = jornadaMaps.cluster($map, $radius_px);
""")

_POINTS_JS = string.Template("""$helpers
var $name = (function () {
  var map = $map, JM = window.jornadaMaps;
  var J = window.jornada = window.jornada || {layers: {}};
  J.map = map;
  var pointPane = JM.pane(map, "jornada-points-" + $key, $z_points);
  var color = $color, label = $label, popupFields = $popup, tipFields = $tips;
  function head() {
    return '<div class="jornada-popup-title"><span class="jornada-swatch" style="background:'
      + color + '"></span>' + JM.esc(label) + '</div>';
  }
  function table(p, fields) {
    return '<table class="jornada-popup">' + fields
      .filter(function (f) { return p[f[0]] !== undefined && p[f[0]] !== null; })
      .map(function (f) { return '<tr><th>' + JM.esc(f[1]) + '</th><td>' + JM.esc(p[f[0]]) + '</td></tr>'; })
      .join("") + '</table>';
  }
  var points = L.geoJSON($data, {
    pointToLayer: function (feature, latlng) {
      return L.circleMarker(latlng, {pane: pointPane, radius: $radius, color: "#ffffff",
        weight: $weight, fillColor: color, fillOpacity: $opacity, className: $point_class,
        jornadaKey: $key, jornadaZ: $z});
    },
    onEachFeature: function (feature, layer) {
      var p = feature.properties;
      // autoPan keeps an opened popup clear of the legend (bottom left) and the layer switcher
      layer.bindPopup(function () { return head() + table(p, popupFields); },
                      {maxWidth: 340, autoPanPaddingTopLeft: [20, 20], autoPanPaddingBottomRight: [20, 250]});
      layer.bindTooltip(function () { return head() + table(p, tipFields); },
                        {direction: "top", offset: [0, -4]});
      layer.on("popupopen", function () { layer.closeTooltip(); });
    }
  });
  var group = $group;
  var layer = new JM.Points(group, points.getLayers());
  J.layers[$key] = {layer: layer, group: group, count: $count, label: label, color: color};
  return layer;
})();
""")


_ELEMENTS: dict = {}  # the folium element classes, defined on first use (folium imports lazily)


def _element_classes():
    if _ELEMENTS:
        return _ELEMENTS
    from folium.elements import JSCSSMixin
    from folium.map import Layer
    from folium.template import Template

    class ClusterGroup(JSCSSMixin, Layer):
        """A Leaflet.markercluster group that several :func:`points_layer` layers share."""

        default_js = [("markercluster_js", f"{_MC}/leaflet.markercluster.js")]
        default_css = [("markercluster_css", f"{_MC}/MarkerCluster.css")]
        _template = Template("{% macro script(this, kwargs) %}{{ this.js() }}{% endmacro %}")

        def __init__(self, radius: int = 55):
            super().__init__(name="order clusters", overlay=True, control=False, show=True)
            self._name = "ClusterGroup"
            self.radius = int(radius)

        def js(self) -> str:
            return _CLUSTER_JS.substitute(helpers=_HELPERS_JS, name=self.get_name(),
                                          map=_map_of(self).get_name(), radius_px=self.radius)

    class ClusteredPoints(JSCSSMixin, Layer):
        default_js = ClusterGroup.default_js
        default_css = ClusterGroup.default_css
        _template = Template("{% macro script(this, kwargs) %}{{ this.js() }}{% endmacro %}")

        def __init__(self, name, show, **params):
            super().__init__(name=name, overlay=True, control=True, show=show)
            self._name = "ClusteredPoints"
            self.params = params
            self.key, self.count, self.cluster = params["key"], params["count"], params["cluster"]

        def js(self) -> str:
            p = self.params
            m = _map_of(self).get_name()
            group = (self.cluster.get_name() if self.cluster is not None else
                     f"jornadaMaps.cluster({m}, {int(p['cluster_radius'])}).addTo({m})")
            return _POINTS_JS.substitute(
                helpers=_HELPERS_JS, name=self.get_name(), map=m, group=group, key=_js(p["key"]),
                color=_js(p["color"]), label=_js(p["label"]), popup=_js(p["popup"]), tips=_js(p["tips"]),
                count=p["count"], data=_js({"type": "FeatureCollection", "features": p["features"]}),
                z=int(p["z"]), z_points=650 + int(p["z"]), radius=float(p["radius"]),
                weight=1.2 if p["z"] else 0.8, opacity=float(p["opacity"]),
                point_class=_js(f"{POINT_CLASS} {POINT_CLASS}-{p['key']}"))

    _ELEMENTS.update(ClusterGroup=ClusterGroup, ClusteredPoints=ClusteredPoints)
    return _ELEMENTS


def cluster_group(radius: int = 55):
    """A marker-cluster group for several :func:`points_layer` layers (``cluster=``): nearby
    orders of every class merge into one icon that shows each class's count. Add it to the map
    before the layers. ``radius``: how close (pixels) orders must be to merge."""
    return _element_classes()["ClusterGroup"](radius)


def points_layer(df: pd.DataFrame, key: str, label: str, color: str, *, radius: float = 5,
                 opacity: float = 0.85, z: int = 0, popup_fields=None, tooltip_fields=None,
                 name: str | None = None, show: bool = True, cluster=None, cluster_radius: int = 55):
    """One class of orders as clustered circle markers: a layer for the map's layer switcher.

    ``df`` needs ``lat``/``lon`` (see :func:`with_coordinates`). ``key`` identifies the class in
    the page (CSS class ``jornada-point-<key>`` on its dots, ``data-n-<key>`` on the cluster icons,
    ``window.jornada.layers[key]``: what the browser tests read); ``label`` and ``color`` are
    what a reader sees (popup header, legend, cluster colour). A higher ``z`` draws the dots on
    top and the class's tag first. ``popup_fields``: the popup rows — a mapping column → label,
    a list of columns, or None for :data:`POPUP_FIELDS` (missing columns skipped, empty cells
    left out); ``tooltip_fields`` likewise for the hover text (default order and UF).
    ``cluster``: a :func:`cluster_group` shared with other classes (one icon per place with every
    class's count); None gives the layer its own group. The switcher shows ``name`` (default
    ``"<label> (<count>)"``).
    """
    if not re.fullmatch(r"[a-z0-9_]+", key):
        raise ValueError(f"key must be lowercase letters, digits or '_', got {key!r}")
    popup = _field_labels(df, popup_fields)
    tips = _field_labels(df, TOOLTIP_FIELDS if tooltip_fields is None else tooltip_fields)
    cols = list(dict.fromkeys(c for c, _ in popup + tips))
    lat, lon = df["lat"].to_numpy(dtype=float), df["lon"].to_numpy(dtype=float)
    values = {c: df[c].tolist() for c in cols}  # datetimes come back as Timestamps
    features = []
    for i in range(len(df)):
        props = {}
        for c in cols:
            text = _fmt(values[c][i])
            if c == "uf" and text is None:
                text = "outside Brazil"
            if text is not None:
                props[c] = text
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "Point",
                                      "coordinates": [round(float(lon[i]), 6), round(float(lat[i]), 6)]}})
    n = len(features)
    return _element_classes()["ClusteredPoints"](
        name or f"{label} ({n:,})", show, key=key, label=label, color=color, popup=popup, tips=tips,
        features=features, count=n, z=z, radius=radius, opacity=opacity, cluster=cluster,
        cluster_radius=cluster_radius)


_STYLE = f"""<style>
.leaflet-container {{ background: #e9eef3; }}
.leaflet-control-layers {{ font: 13px/1.4 system-ui, sans-serif; }}
.{LEGEND_CLASS} {{ background: #fff; padding: 8px 10px; border: 1px solid #999; border-radius: 6px;
  font: 12px/1.5 system-ui, sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 330px; }}
.{LEGEND_CLASS} .note {{ color: #555; font-size: 11px; margin-top: 3px; }}
.jornada-swatch {{ display: inline-block; width: 11px; height: 11px; border-radius: 50%;
  margin-right: 6px; border: 1px solid #333; vertical-align: -1px; }}
.{CLUSTER_CLASS} {{ background: transparent; border: none; }}
/* only what is painted takes the pointer: a cluster's transparent square corners must not
   catch a click meant for (or sit "on top of") a neighbour's tag */
.leaflet-marker-icon.leaflet-interactive.{CLUSTER_CLASS}, .{CLUSTER_CLASS} .box {{ pointer-events: none; }}
.{CLUSTER_CLASS} .disc, .{CLUSTER_CLASS} .tag {{ pointer-events: auto; }}
.{CLUSTER_CLASS} .box {{ position: relative; width: 100%; height: 100%; }}
.{CLUSTER_CLASS} .disc {{ width: 100%; height: 100%; box-sizing: border-box; border-radius: 50%;
  border: 2px solid #fff; box-shadow: 0 0 0 1px rgba(0,0,0,.45), 0 1px 3px rgba(0,0,0,.4);
  color: #fff; font: 700 11px/1 system-ui, sans-serif; display: flex; align-items: center;
  justify-content: center; text-shadow: 0 0 2px rgba(0,0,0,.7); }}
.{CLUSTER_CLASS} .tag {{ position: absolute; height: 16px; min-width: 16px; padding: 0 4px;
  box-sizing: border-box; border-radius: 8px; border: 1.5px solid #fff; color: #fff;
  font: 700 10px/13px system-ui, sans-serif; text-align: center; white-space: nowrap;
  box-shadow: 0 0 0 1px rgba(0,0,0,.45); text-shadow: 0 0 2px rgba(0,0,0,.6); }}
path.{POINT_CLASS}:focus {{ outline: none; }}
.leaflet-popup-content, .leaflet-tooltip {{ font: 12.5px/1.45 system-ui, sans-serif; }}
.jornada-popup-title {{ font-weight: 700; margin-bottom: 4px; }}
table.jornada-popup th {{ padding-right: 10px; color: #555; font-weight: 600; text-align: left;
  vertical-align: top; white-space: nowrap; }}
table.jornada-popup td {{ word-break: break-word; }}
</style>"""


def _legend(title: str, items: Iterable[tuple[str, str, int]]):
    """The legend as a Leaflet control at the bottom left, above the scale bar: (label, colour,
    count) per row, the home states, and how to read a cluster. Add it to the map."""
    from branca.element import Element, MacroElement
    from folium.template import Template

    def esc(text) -> str:
        return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;"))

    rows = "".join(
        f'<div data-label="{esc(label)}" data-count="{count}"><span class="jornada-swatch" '
        f'style="background:{color}"></span>{esc(label)} <span style="color:#666">({count:,})</span></div>'
        for label, color, count in items)
    rows += (f'<div><span class="jornada-swatch" style="border-radius:2px;background:{HOME_FILL};'
             f'opacity:.45;border-color:{HOME_FILL}"></span>home states SP, MG, RJ</div>'
             '<div class="note">numbers = orders nearby, one per colour (disc: the most '
             'common; tags: the others); click a number to zoom in, a dot for the order</div>')
    html = f'<b>{esc(title)}</b>{rows}'

    class Legend(MacroElement):
        _template = Template("""{% macro script(this, kwargs) %}
(function () {
  var legend = L.control({position: "bottomleft"});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "leaflet-control " + {{ this.css_class }});
    div.innerHTML = {{ this.html }};
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}""")

        def __init__(self):
            super().__init__()
            self._name = "Legend"
            self.html, self.css_class = _js(html), _js(LEGEND_CLASS)

        def render(self, **kwargs):
            self.get_root().header.add_child(Element(_STYLE), name="jornada_map_style")
            super().render(**kwargs)

    return Legend()


BRAZIL_BOUNDS = [[-33.8, -74.0], [5.3, -34.8]]


def _base_map(df: pd.DataFrame):
    import folium

    m = folium.Map(location=[-15.0, -52.0], zoom_start=4, tiles=TILES, control_scale=True,
                   prefer_canvas=False)  # SVG: each border and dot is a DOM element (tests read them)
    bounds = ([[float(df["lat"].min()), float(df["lon"].min())],
               [float(df["lat"].max()), float(df["lon"].max())]] if len(df) else BRAZIL_BOUNDS)
    m.fit_bounds(bounds, padding=(30, 30), max_zoom=12)
    states_layer().add_to(m)
    return m


def _classes_map(df: pd.DataFrame, column: str, classes, title: str, popup_fields):
    """A map with one clustered layer per class: ``classes`` = (value in ``column``, key, label,
    colour, radius), drawn bottom to top; the legend lists them with their counts."""
    import folium

    m = _base_map(df)
    group = cluster_group().add_to(m)
    items = []
    for z, (value, key, label, color, radius) in enumerate(classes):
        part = df[df[column] == value]
        points_layer(part, key, label, color, radius=radius, z=z, popup_fields=popup_fields,
                     cluster=group).add_to(m)
        items.append((label, color, len(part)))
    m.add_child(_legend(title, items))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


# ---- maps --------------------------------------------------------------------------------------
def orders_map(orders: pd.DataFrame, *, label: str | None = None, max_points: int = 5000,
               seed: int = 0, title: str = "Liga Sudoers orders", popup_fields=None):
    """Legit (blue) vs fraud (red) orders over the state borders, each class clustered.

    ``orders``: one row per order with ``geohash`` (or ``lat``/``lon``) and a fraud column —
    boolean, 0/1 or the fraud type (``fraude``, ``is_fraud``, ``fraud``, ``label`` are found
    automatically; otherwise pass ``label=``). Popup rows (``popup_fields``, see
    :func:`points_layer`) default to ``id_pedido``, ``id_pessoa``, ``uf``, ``dispositivo``,
    ``dt_venda``, ``tipo_fraude`` — whichever exist.
    """
    col = _label_column(orders, label)
    is_fraud = _as_bool(orders[col])
    picked = sample_orders(orders, is_fraud, max_points=max_points, seed=seed)
    df = with_coordinates(picked)
    df["_class"] = np.where(_as_bool(df[col]).to_numpy(), "fraud", "legit")
    sampled = f" — {len(df):,} of {len(orders):,} drawn, every fraud kept" if len(df) < len(orders) else ""
    return _classes_map(df, "_class", [("legit", "legit", "legit", LEGIT_COLOR, 4.5),
                                       ("fraud", "fraud", "fraud", FRAUD_COLOR, 5.5)],
                        title + sampled, popup_fields)


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
              title: str = "Fraud rule vs confirmed frauds", popup_fields=None):
    """How a rule did on a map: caught frauds (red), false alarms (amber), missed frauds (purple)
    over the unflagged legit orders (grey, sampled above ``max_points``), each class clustered.

    ``flags``: what the rule flagged — a boolean Series aligned with ``orders`` or indexed by
    ``id_pedido``, an array, or a dict of such Series (rule name → flags; an order counts as
    flagged if any rule flags it). ``labels``: the truth — e.g. ``fraud.load_labels()`` (a
    DataFrame of confirmed frauds with ``id_pedido``), a boolean Series, or a set of fraud ids.
    ``popup_fields``: the popup rows (see :func:`points_layer`), e.g. for a model's alerts
    ``{"id_pedido": "order", "id_pessoa": "customer", "score": "score", "motivos": "reasons",
    "versao_modelo": "model version"}``.
    """
    ids = orders["id_pedido"] if "id_pedido" in orders.columns else None
    flagged = _flag_series(flags, orders.index, ids)
    truth = _label_series(labels, orders)
    outcome = outcome_labels(flagged, truth)
    df0 = orders.assign(resultado=outcome.to_numpy())
    picked = sample_orders(df0, (outcome != "legit").to_numpy(), max_points=max_points, seed=seed)
    df = with_coordinates(picked)
    classes = [("legit", "tn", "legit, not flagged", TN_COLOR, 4),
               ("false alarm", "fp", "false alarm (FP)", FP_COLOR, 5),
               ("missed", "fn", "missed fraud (FN)", FN_COLOR, 5.5),
               ("caught", "tp", "caught fraud (TP)", TP_COLOR, 5.5)]
    return _classes_map(df, "resultado", classes, title, popup_fields)


ALERT_POPUP = {"id_pedido": "order", "id_pessoa": "customer", "score": "score", "reasons": "reasons",
               "model_version": "model version", "uf": "UF", "dispositivo": "device", "dt_venda": "date"}


def alerts_map(alerts: pd.DataFrame, labels, *, max_points: int = 5000, seed: int = 0,
               title: str = "Fraud alerts vs confirmed frauds", popup_fields=None):
    """The scorer's decisions on a map: alerts that were frauds (TP), false alarms (FP) and the
    frauds it did not alert on (FN), over the quiet legit orders.

    ``alerts``: one row per scored order (the Delta table ``gold/fraude_alertas``: id_pedido,
    id_pessoa, geohash, score, alert, reasons, model_version, …). ``labels``: the confirmed frauds
    (as for :func:`fraud_map`). Popups show order, customer, score, reasons and model version.
    """
    df = alerts.reset_index(drop=True).copy()
    if "reasons" in df.columns:  # a list per order (Delta array) → "location, model"
        df["reasons"] = [", ".join(r) if r is not None and len(r) else "none" for r in df["reasons"]]
    if "score" in df.columns:
        df["score"] = df["score"].astype(float).round(3)
    return fraud_map(df, _as_bool(df["alert"]), labels, max_points=max_points, seed=seed, title=title,
                     popup_fields=popup_fields or {k: v for k, v in ALERT_POPUP.items() if k in df.columns})


# ---- saving, online or offline -----------------------------------------------------------------
WEB_ASSETS_ENV = "JORNADA_WEB_ASSETS"
FETCH_HINT = "run `make web-assets`"
_AWESOME = "L.AwesomeMarkers.icon"  # only maps with folium.Icon markers need the awesome family

# Every CDN URL that folium 0.20 (folium.folium._default_js/_default_css) and points_layer link,
# → the same file in the npm packages of stack/web/package.json (same versions), relative to the
# node_modules folder `make web-assets` fills. None: not published on npm at that version.
CDN_FILES: dict[str, str | None] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/dist/leaflet.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js":
        "bootstrap/dist/js/bootstrap.bundle.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "drmonty-leaflet-awesome-markers/js/leaflet.awesome-markers.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/dist/leaflet.css",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "drmonty-leaflet-awesome-markers/css/leaflet.awesome-markers.css",
    # folium's own .fa-rotate-<deg> classes (not a package): written for the angles the page uses
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css":
        None,
    f"{_MC}/leaflet.markercluster.js": "leaflet.markercluster/dist/leaflet.markercluster.js",
    f"{_MC}/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
}
# Why an asset may be left out of an offline file: (test on the page's body, what it serves).
_ONLY_IF = {
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": _AWESOME,
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": _AWESOME,
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": _AWESOME,
    # Bootstrap 3 glyphs: only icons with prefix="glyphicon" (folium.Icon's default prefix)
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": '"prefix": "glyphicon"',
    # folium's own CSS for rotated icons (folium.Icon(angle=...))
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css":
        "fa-rotate-",
}
_ROTATE_CSS = "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css"
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".woff2": "font/woff2",
         ".woff": "font/woff", ".ttf": "font/ttf", ".eot": "application/vnd.ms-fontobject"}


def web_assets_dir() -> Path:
    """The node_modules folder with the map assets (``$JORNADA_WEB_ASSETS`` or .cache/web)."""
    return Path(os.environ.get(WEB_ASSETS_ENV) or REPO_ROOT / ".cache" / "web" / "node_modules")


def local_asset(url: str) -> Path | None:
    """The fetched local copy of a CDN URL, or None (unknown URL, no npm equivalent, not fetched)."""
    rel = CDN_FILES.get(url)
    if rel is None:
        return None
    path = web_assets_dir() / rel
    return path if path.is_file() else None


def missing_assets() -> list[str]:
    """The CDN URLs that have an npm equivalent whose file is not fetched (empty: all there)."""
    return [url for url, rel in CDN_FILES.items() if rel is not None and local_asset(url) is None]


def assets_available() -> bool:
    return not missing_assets()


class SavedMap(type(Path())):
    """The path :func:`save_map` wrote, plus how: ``offline`` (assets inlined, opens with no
    internet but for the tiles), ``inlined`` (CDN URLs replaced by their local file) and
    ``remote`` (URLs still loaded from the network, e.g. a plugin with no local copy)."""

    offline: bool | None = None
    inlined: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()


_SCRIPT_TAG = re.compile(r'<script src="(https?://[^"]+)"></script>')
_CSS_TAG = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)"\s*/?>')
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_TTF_SRC = re.compile(r""",\s*url\([^)]*\.ttf\)\s*format\(["']truetype["']\)""")
_SOURCE_MAP = re.compile(r"^\s*(//[#@] sourceMappingURL=.*|/\*# sourceMappingURL=.*\*/)\s*$", re.M)


def _inline_css(path: Path) -> str:
    """The stylesheet with each relative url() (images, fonts) as a data: URI; TrueType fallbacks
    dropped from @font-face (every browser that runs Leaflet 1.9 reads woff2)."""
    css = _SOURCE_MAP.sub("", _TTF_SRC.sub("", path.read_text(encoding="utf-8")))

    def data_uri(match: re.Match) -> str:
        ref = match.group(2).strip()
        if re.match(r"(data:|#|https?:|//)", ref):
            return match.group(0)
        target = (path.parent / ref.split("?")[0].split("#")[0]).resolve()
        if not target.is_file() or target.suffix.lower() not in _MIME:
            return match.group(0)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return f'url("data:{_MIME[target.suffix.lower()]};base64,{data}")'

    return _CSS_URL.sub(data_uri, css).replace("</style", "<\\/style")


def offline_html(html: str) -> tuple[str, list[str], list[str]]:
    """Inline the local copies of the page's CDN scripts and stylesheets.

    Returns (html, inlined URLs, remote URLs). Assets the page does not use are dropped (the
    Awesome-Markers family, Font Awesome and the Bootstrap 3 glyphs when no folium.Icon is drawn);
    a URL with no local copy is kept as a link and listed as remote.
    """
    body = html.split("</head>", 1)[-1]
    inlined: list[str] = []
    remote: list[str] = []

    def needed(url: str) -> bool:
        probe = _ONLY_IF.get(url)
        return probe is None or (probe in body and (probe == _AWESOME or _AWESOME in body))

    def script(match: re.Match) -> str:
        url = match.group(1)
        if not needed(url):
            return f"<!-- not needed offline: {url} -->"
        path = local_asset(url)
        if path is None:
            remote.append(url)
            return match.group(0)
        inlined.append(url)
        js = _SOURCE_MAP.sub("", path.read_text(encoding="utf-8"))
        js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.I)
        return f"<script>/* {url} (local copy) */\n{js}\n</script>"

    def style(match: re.Match) -> str:
        url = match.group(1)
        if not needed(url):
            return f"<!-- not needed offline: {url} -->"
        if url == _ROTATE_CSS:  # one rule per angle used (folium.Icon(angle=...))
            inlined.append(url)
            angles = sorted({int(a) for a in re.findall(r"fa-rotate-(\d+)", body)})
            rules = "".join(f".fa-rotate-{a}{{transform:rotate({a}deg)}}" for a in angles)
            return f"<style>/* {url} (the angles this map uses) */{rules}</style>"
        path = local_asset(url)
        if path is None:
            remote.append(url)
            return match.group(0)
        inlined.append(url)
        return f"<style>/* {url} (local copy) */\n{_inline_css(path)}\n</style>"

    html = _SCRIPT_TAG.sub(script, html)
    html = _CSS_TAG.sub(style, html)
    return html, inlined, remote


def save_map(m, path: str | Path, offline: bool | None = None) -> SavedMap:
    """Write the map as a standalone HTML file (parent folders created); returns the path.

    ``offline=None`` (default): inline the local copies of Leaflet & co. when ``make web-assets``
    fetched them, else link the CDNs (and log how to get the offline version). ``True``: inline
    or raise FileNotFoundError. ``False``: CDN links, as folium writes them. The returned
    :class:`SavedMap` tells which (``.offline``, ``.inlined``, ``.remote``). Either way the map
    tiles come from the network; without it, borders and orders still draw.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = missing_assets() if offline is not False else []
    if offline is True and missing:
        raise FileNotFoundError(f"{len(missing)} map assets are not fetched into {web_assets_dir()} "
                                f"(e.g. {missing[0]}): {FETCH_HINT}")
    html = m.get_root().render()
    inlined: list[str] = []
    remote = sorted(set(_SCRIPT_TAG.findall(html) + _CSS_TAG.findall(html)))
    go_offline = offline is True or (offline is None and not missing)
    if go_offline:
        html, inlined, remote = offline_html(html)
    path.write_text(html, encoding="utf-8")
    out = SavedMap(path)
    out.offline, out.inlined, out.remote = go_offline and not remote, tuple(inlined), tuple(remote)
    if go_offline:
        log.info("saved %s offline: %d assets inlined%s", path, len(inlined),
                 f", still remote: {', '.join(remote)}" if remote else "")
    else:
        log.info("saved %s with CDN links (opening it needs internet)%s", path,
                 f"; for an offline file {FETCH_HINT}" if missing else "")
    return out
