"""The saved maps in a real browser: headless Chromium (Debian's) via Playwright, with NO network.

Every map is saved offline (assets inlined), opened from file:// with every non-file request
blocked, and checked on what is drawn: the 27 state borders, the orders of each class (cluster
counts + single dots = the legend's count), the legend above the scale bar, a popup opening on a
real click with the order's id, tooltips without empty labels. A PNG of each map goes next to it
in output/maps/ (look at them). Missing Chromium, Playwright or assets fail with the fix.
"""

from __future__ import annotations

import os
import re
import struct
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from jornada import browser, course, fraud, geo, maps
from jornada import generators as g
from jornada.config import REPO_ROOT

pytestmark = pytest.mark.browser

OUT = Path(os.environ.get("JORNADA_OUTPUT_DIR") or REPO_ROOT / "output") / "maps"
NOW = datetime(2026, 1, 31, 12, 0, 0)
TILE_HOST = "tile.openstreetmap.org"


@pytest.fixture(scope="module")
def ready():
    problems = []
    try:
        browser.chromium_path()
    except browser.BrowserUnavailable as exc:
        problems.append(str(exc))
    try:
        import playwright  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install -r requirements.txt)")
    missing = maps.missing_assets()
    if missing:
        problems.append(f"{len(missing)} map assets are not in {maps.web_assets_dir()} (e.g. {missing[0]})")
    if problems:
        pytest.fail("; ".join(problems) + f" — {browser.FIX}", pytrace=False)


# ---- the maps ----------------------------------------------------------------------------------
def small_orders() -> pd.DataFrame:
    """Seven orders at known places (one off Peru, outside every state), every popup column."""
    places = [("São Paulo", -23.5505, -46.6333, None), ("Osasco", -23.5329, -46.7917, None),
              ("Pampulha (BH)", -19.8512, -43.9713, None), ("Barra (Rio)", -23.0004, -43.3659, None),
              ("Vitória (ES)", -20.2976, -40.3300, "localizacao"),
              ("Cuiabá (MT)", -15.6014, -56.0979, "localizacao"),
              ("Pacific off Peru", -14.1504, -77.1680, "dispositivo")]
    return pd.DataFrame([
        {"id_pedido": 1000 + i, "id_pessoa": 50 + i, "geohash": geo.encode(lat, lon, 7), "cidade": name,
         "dispositivo": "iPhone 15" if kind else "Motorola Moto G84",
         "dt_venda": pd.Timestamp("2026-01-10 10:00") + pd.Timedelta(hours=i), "tipo_fraude": kind,
         "fraude": kind is not None}
        for i, (name, lat, lon, kind) in enumerate(places)])


def generated_orders(customers: int, orders: int, *, seed: int, fraud_rate: float, max_days: int):
    """(orders with their audit columns, confirmed frauds) of a generated shop, no database."""
    people = g.generate_customers(customers, seed=seed, now=NOW)
    h = g.generate_history(people, g.catalogue_products(), orders, seed=seed, now=NOW,
                           fraud_rate=fraud_rate, max_days=max_days)
    out = (h["pedidos"].rename(columns={"id": "id_pedido"})
           .merge(h["auditoria_pedidos"].drop(columns="dt_venda"), on="id_pedido")
           [["id_pedido", "id_pessoa", "dt_venda", "dispositivo", "geohash"]])
    return out, h["fraudes_confirmadas"]


@pytest.fixture(scope="module")
def generated():
    """A shop like lesson 02's (2,000 customers, 20,000 orders, 1 % fraud), without a database."""
    return generated_orders(2_000, 20_000, seed=42, fraud_rate=0.01, max_days=180)


def _expected(m) -> dict[str, dict]:
    """key → label and order ids of each points layer, from the folium map object."""
    out = {}
    for child in m._children.values():
        if getattr(child, "_name", "") == "ClusteredPoints":
            p = child.params
            out[p["key"]] = {"label": p["label"],
                             "ids": {f["properties"].get("id_pedido") for f in p["features"]}}
    return out


@pytest.fixture(scope="module")
def saved(ready, generated):
    """name → (html path, expected layers, popup labels that must show)."""
    orders, labels = generated
    labelled = orders.merge(labels[["id_pedido", "tipo_fraude"]], on="id_pedido", how="left")
    labelled["fraude"] = labelled["tipo_fraude"].notna()
    flags = {"location": fraud.location_flags(orders), "device_previous": fraud.device_flags(orders, "previous")}
    built = {
        "test_orders_small": maps.orders_map(small_orders(), title="seven known places"),
        "test_orders_generated": maps.orders_map(labelled, max_points=3_000, seed=42,
                                                 title="Liga Sudoers — generated orders"),
        "test_fraud_rule": maps.fraud_map(orders, flags, labels, max_points=3_000, seed=42,
                                          title="location + device (previous) vs confirmed frauds"),
    }
    out = {}
    for name, m in built.items():
        path = maps.save_map(m, OUT / f"{name}.html", offline=True)
        assert path.offline and not path.remote, f"{name}: still loads {path.remote}"
        out[name] = (path, _expected(m))
    return out


@pytest.fixture(scope="module")
def op(ready):
    with browser.offline_page() as page:
        yield page


# ---- what the page drew ------------------------------------------------------------------------
STATE_JS = """() => {
  const J = window.jornada, box = el => { const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const layers = {};
  for (const [key, l] of Object.entries(J.layers)) {
    let inClusters = 0;
    document.querySelectorAll('.jornada-cluster .box').forEach(b => {
      inClusters += parseInt(b.getAttribute('data-n-' + key) || '0', 10); });
    const dots = document.querySelectorAll('path.jornada-point-' + key).length;
    layers[key] = {count: l.count, shown: l.layer.shown(), inClusters, dots};
  }
  // every disc, tag and single dot: is its centre the topmost thing there (not hidden)?
  const covered = [];
  let checked = 0;
  document.querySelectorAll('.jornada-cluster .disc, .jornada-cluster .tag, path.jornada-point').forEach(el => {
    const r = el.getBoundingClientRect(), x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
    if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) return;
    const top = document.elementFromPoint(x, y);
    // under the legend or the layer control: off the drawn map (a pan shows it), not hidden by an order
    if (top && top.closest('.leaflet-control-container')) return;
    checked += 1;
    if (!(top === el || el.contains(top) || (top && top.closest('.jornada-cluster') === el.closest('.jornada-cluster')
          && el.closest('.jornada-cluster')))) {
      covered.push({what: el.className.baseVal !== undefined ? el.className.baseVal : el.className,
                    text: el.textContent, by: top ? (top.className.baseVal || top.className || top.tagName) : null});
    }
  });
  const legend = document.querySelector('.jornada-legend'), scale = document.querySelector('.leaflet-control-scale');
  const rows = [...legend.querySelectorAll('[data-label]')].map(r =>
    ({label: r.getAttribute('data-label'), count: parseInt(r.getAttribute('data-count'), 10), text: r.textContent}));
  return {states: document.querySelectorAll('path.jornada-state').length, layers, covered, checked,
          legend: box(legend), scale: box(scale), rows, legendText: legend.textContent, zoom: J.map.getZoom()};
}"""

# Bring one marker of a class into view (zooming / spiderfying its cluster), return its id and
# the centre of its dot if nothing else is on top of it there.
FIND_JS = """async ([key, index]) => {
  const J = window.jornada, l = J.layers[key], m = l.layer.markers[index];
  await new Promise(done => l.group.zoomToShowLayer(m, done));
  await new Promise(done => setTimeout(done, 400));
  if (!m._path) return null;
  const r = m._path.getBoundingClientRect(), x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
  if (document.elementFromPoint(x, y) !== m._path) return null;
  return {id: m.feature.properties.id_pedido, x, y};
}"""

TABLE_JS = """sel => { const el = document.querySelector(sel); if (!el) return null;
  return {title: (el.querySelector('.jornada-popup-title') || {}).textContent || '',
          rows: [...el.querySelectorAll('tr')].map(tr => [tr.querySelector('th').textContent,
                                                          tr.querySelector('td').textContent])}; }"""


def _click_a_marker(page, key: str, tries: int = 12) -> tuple[str, dict]:
    """Really click a dot of class ``key`` (mouse over first: tooltip), return (id, popup, tooltip)."""
    count = page.evaluate("k => window.jornada.layers[k].layer.markers.length", key)
    for index in range(min(tries, count)):
        spot = page.evaluate(FIND_JS, [key, index * max(1, count // tries)])
        if spot is None:
            continue
        page.mouse.move(spot["x"], spot["y"])
        page.wait_for_selector(".leaflet-tooltip", timeout=3_000)
        tooltip = page.evaluate(TABLE_JS, ".leaflet-tooltip")
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_selector(".leaflet-popup-content", timeout=3_000)
        popup = page.evaluate(TABLE_JS, ".leaflet-popup-content")
        return spot["id"], popup, tooltip
    raise AssertionError(f"no {key} dot could be brought into view and clicked in {tries} tries")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


# ---- tests -------------------------------------------------------------------------------------
MAPS = ["test_orders_small", "test_orders_generated", "test_fraud_rule"]


@pytest.mark.parametrize("name", MAPS)
def test_map_draws_offline_what_the_legend_says(name, saved, op):
    path, expected = saved[name]
    op.blocked.clear()
    op.errors.clear()
    op.open(path)
    state = op.page.evaluate(STATE_JS)
    op.page.screenshot(path=str(OUT / f"{name}.png"))

    assert op.errors == [], f"JavaScript errors: {op.errors}"
    # offline: the only requests the page tried were map tiles (and they were refused)
    assert [u for u in op.blocked if TILE_HOST not in u] == []
    assert state["states"] == 27, "one SVG path per state border"
    legend = {r["label"]: r["count"] for r in state["rows"]}
    assert set(legend) == {e["label"] for e in expected.values()}
    for key, exp in expected.items():
        n, drawn = len(exp["ids"]), state["layers"][key]
        assert legend[exp["label"]] == n and f"({n:,})" in state["legendText"]
        assert drawn["count"] == drawn["shown"] == n, f"{key}: the cluster group holds {drawn['shown']} of {n}"
        assert drawn["inClusters"] + drawn["dots"] == n, f"{key}: {drawn} drawn, legend says {n}"
    # the legend sits above the scale bar, not on it
    assert state["legend"]["bottom"] <= state["scale"]["top"] + 0.5, (state["legend"], state["scale"])
    # nothing drawn for an order is hidden under another class's disc or tag
    assert state["checked"] > 0 and state["covered"] == [], state["covered"][:5]
    assert _png_size(OUT / f"{name}.png") == browser.VIEWPORT


def test_country_zoom_shows_legit_and_fraud(saved, op):
    """Lesson 02's map at its opening zoom: blue legit and red fraud both visible, by the numbers."""
    path, expected = saved["test_orders_generated"]
    op.open(path)
    state = op.page.evaluate(STATE_JS)
    assert state["zoom"] <= 5, "opens on the whole country"
    discs = op.page.evaluate("""() => [...document.querySelectorAll('.jornada-cluster .disc, .jornada-cluster .tag')]
        .map(el => getComputedStyle(el).backgroundColor)""")
    blue, red = "rgb(37, 99, 235)", "rgb(220, 38, 38)"
    assert discs.count(blue) >= 2 and discs.count(red) >= 5, discs
    big = op.page.evaluate("""() => Math.max(...[...document.querySelectorAll('.jornada-cluster .box')]
        .map(b => parseInt(b.getAttribute('data-n-legit') || '0', 10)))""")
    assert big > 1000, "the home cluster shows its thousands of legit orders"
    # one city closer: São Paulo's single dots, blue and red, for the eye
    op.page.evaluate("() => { window.jornada.map.setView([-23.55, -46.63], 11, {animate: false}); }")
    op.page.wait_for_timeout(500)
    op.page.screenshot(path=str(OUT / "test_orders_generated_sp.png"))


@pytest.mark.parametrize("name, key, must", [
    ("test_orders_small", "fraud", {"order", "customer", "UF", "device", "date", "fraud type"}),
    ("test_orders_small", "legit", {"order", "customer", "UF", "device", "date"}),
    ("test_orders_generated", "fraud", {"order", "customer", "UF", "device", "date", "fraud type"}),
    ("test_orders_generated", "legit", {"order", "customer", "UF", "device", "date"}),
    ("test_fraud_rule", "tp", {"order", "customer", "UF", "device", "date"}),
    ("test_fraud_rule", "fp", {"order", "customer", "UF", "device", "date"}),
])
def test_click_opens_a_popup_with_the_order(name, key, must, saved, op):
    path, expected = saved[name]
    op.open(path)
    order, popup, tooltip = _click_a_marker(op.page, key)
    rows = dict(popup["rows"])
    assert popup["title"].strip() == expected[key]["label"]
    assert rows["order"] == order and order in expected[key]["ids"]
    assert must <= set(rows), f"popup rows {sorted(rows)}"
    assert all(label.strip() and value.strip() for label, value in popup["rows"] + tooltip["rows"])
    assert dict(tooltip["rows"])["order"] == order and tooltip["title"].strip() == expected[key]["label"]
    if name == "test_orders_small" and order == "1006":
        assert rows["UF"] == "outside Brazil"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows["date"])
    if name == "test_orders_generated" and key == "legit":
        op.page.mouse.move(1100, 60)  # off the dot (onto the switcher): its tooltip goes, the popup stays
        op.page.wait_for_timeout(400)
        op.page.screenshot(path=str(OUT / "test_orders_generated_popup.png"))
        assert op.page.locator(".leaflet-popup-content").count() == 1


# ---- the maps the course itself saved (lesson 02's, …) -------------------------------------------
# The session's course run (fixture ``course_run``, shared with the notebooks lane: in CI one
# pytest session runs both) executed every lesson; its runner screenshotted each map it saved.
_LAYER_JS = re.compile(r'JM\.pane\(map, "jornada-points-" \+ ("[^"]*")')
_LABEL_JS = re.compile(r'var color = "[^"]*", label = ("(?:[^"\\]|\\.)*")')


def _expected_from_html(html: str) -> dict[str, dict]:
    """What :func:`_expected` reads from the folium object, read back from a saved page: key →
    label and order ids of each points layer (the GeoJSON the page hands to Leaflet)."""
    import json

    out, decoder = {}, json.JSONDecoder()
    for match in _LAYER_JS.finditer(html):
        key = json.loads(match.group(1))
        label = json.loads(_LABEL_JS.search(html, match.end()).group(1))
        start = html.index("L.geoJSON(", match.end()) + len("L.geoJSON(")
        data, _ = decoder.raw_decode(html, start)
        out[key] = {"label": label, "ids": {f["properties"].get("id_pedido") for f in data["features"]}}
    return out


@pytest.fixture(scope="module")
def course_maps(ready, course_run):
    """Every map the course run saved: (notebook, html path, png path, expected layers)."""
    found = [(key, Path(m["html"]), m["png"] and Path(m["png"]), m["note"])
             for key, row in course_run.items() for m in row.get("maps", [])]
    assert course_run["notebooks/02_generating_data"]["status"] == "ok", \
        course_run["notebooks/02_generating_data"].get("error")
    assert "02_orders_map.html" in {html.name for _, html, _, _ in found}, found
    return [(key, html, png, note, _expected_from_html(html.read_text(encoding="utf-8")))
            for key, html, png, note in found]


MAP_LAYERS = ({"legit", "fraud"}, {"tn", "fp", "fn", "tp"})


def test_course_maps_draw_what_their_legend_says(course_maps, op, records):
    for notebook, html, png, note, expected in course_maps:
        assert png == html.with_suffix(".png"), f"{notebook}: no screenshot next to {html.name} ({note})"
        assert _png_size(png) == browser.VIEWPORT and png.stat().st_size > 50_000, f"{png}: a blank page?"
        # an orders map (lesson 02) or a detector's outcomes against the labels (lesson 07)
        assert set(expected) in MAP_LAYERS, f"{html.name}: layers {sorted(expected)}"
        op.blocked.clear()
        op.errors.clear()
        op.open(html)
        state = op.page.evaluate(STATE_JS)
        assert op.errors == [], f"{html.name}: JavaScript errors {op.errors}"
        assert [u for u in op.blocked if TILE_HOST not in u] == [], f"{html.name} was saved with CDN links"
        assert state["states"] == 27, f"{html.name}: one SVG path per state border"
        legend = {r["label"]: r["count"] for r in state["rows"]}
        assert set(legend) == {e["label"] for e in expected.values()}
        for key, exp in expected.items():
            n, drawn = len(exp["ids"]), state["layers"][key]
            assert n > 0 and legend[exp["label"]] == n and f"({n:,})" in state["legendText"], (key, legend)
            assert drawn["count"] == drawn["shown"] == n, f"{key}: the cluster group holds {drawn['shown']} of {n}"
            assert drawn["inClusters"] + drawn["dots"] == n, f"{key}: {drawn} drawn, legend says {n}"
        assert state["legend"]["bottom"] <= state["scale"]["top"] + 0.5, (state["legend"], state["scale"])
        assert state["checked"] > 0 and state["covered"] == [], state["covered"][:5]
    # lesson 02's map, against what the lesson measured: every fraud drawn, legit sampled to the cap
    rec = records["02_generating_data"]
    lesson02 = next(exp for nb, html, *_, exp in course_maps if html.name == "02_orders_map.html")
    # ids 1…history_orders are the history (one COPY after the reset), the stream's come after;
    # the lesson recorded each part's fraud rate (rounded to 4 places)
    fraud_ids = [int(i) for i in lesson02["fraud"]["ids"]]
    history = [i for i in fraud_ids if i <= rec["history_orders"]]
    stream = [i for i in fraud_ids if i > rec["history_orders"]]
    assert round(len(history) / rec["history_orders"], 4) == rec["history_fraud_rate"], len(history)
    assert round(len(stream) / rec["stream_orders"], 4) == rec["stream_fraud_rate"], len(stream)
    assert max(fraud_ids) <= rec["history_orders"] + rec["stream_orders"]
    drawn = len(lesson02["fraud"]["ids"]) + len(lesson02["legit"]["ids"])
    assert drawn == _parameters(course.NOTEBOOKS / "02_generating_data.ipynb")["map_points"]


def _parameters(notebook: Path) -> dict:
    """The defaults of a lesson's papermill parameters cell (what the course run used)."""
    import nbformat

    cell = next(c for c in nbformat.read(notebook, as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, values)  # noqa: S102 - our own notebook's literal assignments
    return values


@pytest.mark.parametrize("key", ["legit", "fraud"])
def test_course_map_click_opens_a_popup_with_the_order(key, course_maps, op):
    _, html, _, _, expected = next(m for m in course_maps if m[1].name == "02_orders_map.html")
    op.open(html)
    order, popup, tooltip = _click_a_marker(op.page, key)
    rows = dict(popup["rows"])
    assert popup["title"].strip() == expected[key]["label"]
    assert rows["order"] == order and int(order) in {int(i) for i in expected[key]["ids"]}
    must = {"order", "customer", "UF", "device", "date"} | ({"fraud type"} if key == "fraud" else set())
    assert must <= set(rows), f"popup rows {sorted(rows)}"
    assert all(label.strip() and value.strip() for label, value in popup["rows"] + tooltip["rows"])
    assert dict(tooltip["rows"])["order"] == order


def test_screenshot_function(saved, tmp_path):
    path, _ = saved["test_orders_small"]
    png = browser.screenshot(path, tmp_path / "shot.png", width=800, height=600)
    assert png == tmp_path / "shot.png" and _png_size(png) == (800, 600)
    assert png.stat().st_size > 20_000  # borders, dots and legend, not a blank page
    default = browser.screenshot(path)  # next to the map
    assert default == path.with_suffix(".png") and default.exists()


def test_missing_chromium_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv(browser.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    with pytest.raises(browser.BrowserUnavailable, match="make system-deps web-assets"):
        browser.screenshot(tmp_path / "x.html")
