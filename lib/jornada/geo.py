"""Geohash helpers and "which Brazilian state (UF) is this point in?".

Two jobs, both used on every simulated order:

* geohash encode/decode: one point at a time delegated to `pygeohash` (a maintained C
  implementation), whole arrays (`encode_many`, `decode_many`) computed with numpy bit
  interleaving, bit-identical to pygeohash (tests/test_geo.py compares them); our own input
  validation in front, so a bad geohash fails with a message that names the bad character
  instead of a generic "Invalid character";
* point → UF lookup against real state boundaries (lib/jornada/data/uf_boundaries.geojson, built
  by scripts/build_state_boundaries.py from geoBoundaries; see data/ATTRIBUTION.md).

The polygon test is the definition of the answer: a point belongs to the first UF (in
alphabetical UF order) whose polygon *covers* it (boundary included), or to no UF. Testing
100k+ points against 27 detailed polygons one by one is slow, so `states_of` uses a raster
index over Brazil's bounding box (`_StateIndex`): cells that no border or coastline touches
answer straight from the raster, and only points in cells that a border crosses are tested
exactly with shapely. The raster is therefore only an accelerator — results are identical to
the polygon test (tests/test_geo.py checks this against a brute-force evaluation).

What the answer means: "inside the shipped polygons", not the legal border. The boundaries are
generalised (mostly within a few hundred metres of the source), so a point within ~1 km of a
state line or the shore may get the neighbour's UF or None. Water that the source leaves out of
every municipality answers None — e.g. Guanabara Bay, the Guaíba and Lagoa dos Patos — while
reservoirs, Lagoa Mirim and the Amazon mouth belong to their state.

Runtime dependencies are numpy, shapely and pygeohash only.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib.resources import files
from typing import Any
from collections.abc import Callable, Iterable

import numpy as np
import pygeohash
import shapely

__all__ = [
    "UF_NAMES",
    "GEOHASH_ALPHABET",
    "encode",
    "decode",
    "encode_many",
    "decode_many",
    "validate_geohash",
    "state_of",
    "states_of",
    "state_of_geohash",
    "states_of_geohash",
    "load_states",
    "states_geojson",
]

# The 27 federative units (26 states + Distrito Federal), by IBGE's two-letter code.
UF_NAMES: dict[str, str] = {
    "AC": "Acre",
    "AL": "Alagoas",
    "AM": "Amazonas",
    "AP": "Amapá",
    "BA": "Bahia",
    "CE": "Ceará",
    "DF": "Distrito Federal",
    "ES": "Espírito Santo",
    "GO": "Goiás",
    "MA": "Maranhão",
    "MG": "Minas Gerais",
    "MS": "Mato Grosso do Sul",
    "MT": "Mato Grosso",
    "PA": "Pará",
    "PB": "Paraíba",
    "PE": "Pernambuco",
    "PI": "Piauí",
    "PR": "Paraná",
    "RJ": "Rio de Janeiro",
    "RN": "Rio Grande do Norte",
    "RO": "Rondônia",
    "RR": "Roraima",
    "RS": "Rio Grande do Sul",
    "SC": "Santa Catarina",
    "SE": "Sergipe",
    "SP": "São Paulo",
    "TO": "Tocantins",
}

# Fixed order used for tie-breaking (a point exactly on a shared border goes to the first UF)
# and for the integer codes in the raster (code i+1 = _UF_ORDER[i], 0 = outside Brazil).
_UF_ORDER: tuple[str, ...] = tuple(sorted(UF_NAMES))

_GEOJSON_RESOURCE = "uf_boundaries.geojson"

# ---------------------------------------------------------------------------------------------
# Geohash
# ---------------------------------------------------------------------------------------------

# Base32 "geohash alphabet": digits and lower-case letters except a, i, l, o (too easy to
# confuse with 4/1/1/0). We accept upper case too, like pygeohash does, and normalise to lower.
GEOHASH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
_MAX_PRECISION = 12  # pygeohash's limit; 12 chars ≈ 3.7 cm × 1.9 cm, finer than GPS anyway
_VALID_GEOHASH = re.compile(r"[0-9b-hjkmnp-z]{1,12}")


def validate_geohash(geohash: Any) -> str:
    """Return the geohash normalised to lower case, or raise ValueError saying what is wrong."""
    if not isinstance(geohash, str):
        raise ValueError(f"geohash must be a str, got {type(geohash).__name__}: {geohash!r}")
    gh = geohash.lower()
    if _VALID_GEOHASH.fullmatch(gh):  # fast path: one C-level regex match per string
        return gh
    if not gh:
        raise ValueError("geohash must not be empty")
    for pos, ch in enumerate(gh):
        if ch not in GEOHASH_ALPHABET:
            raise ValueError(
                f"invalid geohash {geohash!r}: character {geohash[pos]!r} at position {pos} is not "
                f"in the geohash alphabet (0-9, b-h, j, k, m, n, p-z; a, i, l, o are never used)"
            )
    raise ValueError(f"geohash {geohash!r} is longer than {_MAX_PRECISION} characters")


def _check_lat_lon(lat: Any, lon: Any) -> tuple[float, float]:
    """Scalar coordinate validation shared by encode() and state_of()."""
    if isinstance(lat, bool) or isinstance(lon, bool):  # bool is an int subclass: reject it
        raise ValueError(f"lat/lon must be numbers, got {lat!r}, {lon!r}")
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ValueError(f"lat/lon must be numbers, got {lat!r}, {lon!r}") from None
    # Written so that NaN fails the comparison and lands in the error branch.
    if not -90.0 <= lat_f <= 90.0:
        raise ValueError(f"latitude must be in [-90, 90], got {lat!r}")
    if not -180.0 <= lon_f <= 180.0:
        raise ValueError(f"longitude must be in [-180, 180], got {lon!r}")
    return lat_f, lon_f


def _check_precision(precision: Any) -> int:
    if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
        raise ValueError(f"precision must be an int, got {precision!r}")
    if not 1 <= precision <= _MAX_PRECISION:
        raise ValueError(f"precision must be between 1 and {_MAX_PRECISION}, got {precision}")
    return int(precision)


def encode(lat: float, lon: float, precision: int = 7) -> str:
    """Geohash of a point. Precision 7 ≈ 153 m × 153 m, the default cell size of the course."""
    lat_f, lon_f = _check_lat_lon(lat, lon)
    return pygeohash.encode(lat_f, lon_f, _check_precision(precision))


def decode(geohash: str) -> tuple[float, float]:
    """(lat, lon) of the *centre* of the geohash cell."""
    ll = pygeohash.decode(validate_geohash(geohash))
    return (ll.latitude, ll.longitude)


def _as_float_array(values: Any, name: str) -> np.ndarray:
    """1-D float64 view of a list/ndarray/pandas Series (no copy when it already is one)."""
    if hasattr(values, "to_numpy"):  # pandas Series/Index: skip the index, keep the values
        values = values.to_numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _as_lat_lon_arrays(lats: Any, lons: Any) -> tuple[np.ndarray, np.ndarray]:
    lat = _as_float_array(lats, "lats")
    lon = _as_float_array(lons, "lons")
    if lat.shape != lon.shape:
        raise ValueError(f"lats and lons differ in length: {lat.size} vs {lon.size}")
    return lat, lon


def _coords_ok(lat: np.ndarray, lon: np.ndarray) -> bool:
    """True if all coordinates are in range. Four reductions instead of boolean masks: min/max
    propagate NaN, and NaN fails every comparison, so NaN also answers False."""
    return lat.size == 0 or bool(
        -90.0 <= lat.min() and lat.max() <= 90.0 and -180.0 <= lon.min() and lon.max() <= 180.0
    )


def _raise_bad_coords(lat: np.ndarray, lon: np.ndarray) -> None:
    """The slow path once _coords_ok said no: find and name the first offender."""
    bad = ~((lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0))
    i = int(np.flatnonzero(bad)[0])
    raise ValueError(
        f"{int(bad.sum())} invalid coordinate(s) (NaN or out of range); first at position "
        f"{i}: lat={lat[i]!r}, lon={lon[i]!r} (drop or fix missing coordinates first)"
    )


def _check_lat_lon_arrays(lats: Any, lons: Any) -> tuple[np.ndarray, np.ndarray]:
    lat, lon = _as_lat_lon_arrays(lats, lons)
    if not _coords_ok(lat, lon):
        _raise_bad_coords(lat, lon)
    return lat, lon


def encode_many(lats: Any, lons: Any, precision: int = 7) -> list[str]:
    """Geohashes of many points (lists, numpy arrays or pandas Series).

    Vectorised (numpy bit interleaving, see `_cell_indices`); the same strings as `encode`
    point by point (tests/test_geo.py checks it against pygeohash).
    """
    lat, lon = _check_lat_lon_arrays(lats, lons)
    p = _check_precision(precision)
    if lat.size == 0:
        return []
    lat_i, lon_i = _cell_indices(lat, lon, p)
    return _geohash_strings(_interleave(lat_i, lon_i, p), p).tolist()


def decode_many(hashes: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of many geohashes, as two float64 arrays (lats, lons).

    Vectorised; bit-identical to `decode` per geohash. Bad input (not a str, empty, too long, a
    character outside the alphabet) raises the ValueError `validate_geohash` gives for the first
    bad element.
    """
    if hasattr(hashes, "to_numpy"):
        hashes = hashes.to_numpy()
    if isinstance(hashes, str):  # a lone string is iterable too: don't decode it per character
        raise ValueError("decode_many expects a collection of geohashes, not a single string")
    if not isinstance(hashes, (list, tuple, np.ndarray)):
        hashes = list(hashes)
    if len(hashes) == 0:
        return np.empty(0), np.empty(0)
    parsed = _parse_geohashes(hashes)
    if parsed is None:  # something is off: validate one by one (raises), decode what it returns
        parsed = _parse_geohashes([validate_geohash(h) for h in hashes])
        assert parsed is not None  # validate_geohash returns lower-case alphabet strings only
    lat = np.empty(len(hashes))
    lon = np.empty(len(hashes))
    for rows, code, p in parsed:
        lat_i, lon_i = _deinterleave(code, p)
        lat[rows], lon[rows] = _cell_centres(lat_i, lon_i, p)
    return lat, lon


# -- vectorised geohash internals --------------------------------------------------------------
#
# A geohash of precision p is 5p bits that alternate longitude / latitude, longitude first:
# ceil(5p/2) bits of longitude and floor(5p/2) of latitude, each the index of the cell along
# its axis when [-180, 180] / [-90, 90] is cut into 2**bits equal parts. pygeohash finds those
# indices by bisection; `_cell_indices` computes them directly and corrects the rounding, so
# both give the same bits for every float (see the function's comment).

_BASE32 = np.frombuffer(GEOHASH_ALPHABET.encode("ascii"), dtype=np.uint8)
# byte → 5-bit value, -1 for bytes outside the alphabet; upper-case letters fold onto lower.
_BASE32_VALUE = np.full(256, -1, dtype=np.int8)
_BASE32_VALUE[_BASE32] = np.arange(32, dtype=np.int8)
_BASE32_VALUE[np.frombuffer(GEOHASH_ALPHABET.upper().encode("ascii"), dtype=np.uint8)] = np.arange(
    32, dtype=np.int8
)
_U64 = np.uint64
# 10 bits → their two characters, as the uint16 whose bytes are those characters in order
_BASE32_PAIRS = np.stack([np.repeat(_BASE32, 32), np.tile(_BASE32, 32)], axis=1).view(np.uint16)
_BASE32_PAIRS = _BASE32_PAIRS.ravel().copy()


def _axis_bits(precision: int) -> tuple[int, int]:
    """(latitude bits, longitude bits) of a geohash of `precision` characters."""
    return (5 * precision) // 2, (5 * precision + 1) // 2


def _axis_index(x: np.ndarray, lo: float, span: float, bits: int) -> np.ndarray:
    """Index (int64) of the cell containing each x when [lo, lo + span] is cut into 2**bits cells.

    Bisection (pygeohash) answers: the largest i with lo + i * width <= x, capped at the last
    cell (x == lo + span is in the last cell). Every cell edge lo + i * width is a float64 that
    numpy computes exactly (width is span / 2**bits; i * width and the sum need < 53 bits), and
    so are the midpoints bisection compares against. So: estimate i with one float multiply
    (off by at most 1 from rounding), then fix it with exact comparisons against the edges.
    """
    n = 1 << bits
    width = span / n  # exact: a power-of-two division
    i = ((x - lo) * (n / span)).astype(np.int64)  # x >= lo, so truncation is floor
    np.minimum(i, n - 1, out=i)
    edge = i * width
    edge += lo
    up = x >= edge + width  # estimate one too low (but the last cell also holds lo + span)
    up &= i < n - 1
    i -= x < edge  # estimate one too high
    i += up
    # (With spans 180 and 360 the float n / span rounds up, so only "too high" happens in
    # practice; the other fix is kept so correctness doesn't hang on that.)
    return i


def _cell_indices(
    lat: np.ndarray, lon: np.ndarray, precision: int
) -> tuple[np.ndarray, np.ndarray]:
    """(latitude index, longitude index) of the geohash cell of each point (inputs validated)."""
    lat_bits, lon_bits = _axis_bits(precision)
    return _axis_index(lat, -90.0, 180.0, lat_bits), _axis_index(lon, -180.0, 360.0, lon_bits)


def _cell_centres(
    lat_i: np.ndarray, lon_i: np.ndarray, precision: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centres of geohash cells given their axis indices: exactly pygeohash's (lo + hi) * 0.5,
    as lo + (2i + 1) * half-width is exact in float64 too."""
    lat_bits, lon_bits = _axis_bits(precision)
    lat = (2 * lat_i + 1).astype(np.float64) * (90.0 / (1 << lat_bits)) - 90.0
    lon = (2 * lon_i + 1).astype(np.float64) * (180.0 / (1 << lon_bits)) - 180.0
    return lat, lon


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Bit k of each (≤ 32-bit) value moved to bit 2k (Morton spreading), as uint64."""
    v = v.astype(_U64)
    v = (v | (v << _U64(16))) & _U64(0x0000FFFF0000FFFF)
    v = (v | (v << _U64(8))) & _U64(0x00FF00FF00FF00FF)
    v = (v | (v << _U64(4))) & _U64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << _U64(2))) & _U64(0x3333333333333333)
    return (v | (v << _U64(1))) & _U64(0x5555555555555555)


def _gather_bits(v: np.ndarray) -> np.ndarray:
    """Inverse of _spread_bits: bits 0, 2, 4, … of each uint64 packed into bits 0, 1, 2, …"""
    v = v & _U64(0x5555555555555555)
    v = (v | (v >> _U64(1))) & _U64(0x3333333333333333)
    v = (v | (v >> _U64(2))) & _U64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v >> _U64(4))) & _U64(0x00FF00FF00FF00FF)
    v = (v | (v >> _U64(8))) & _U64(0x0000FFFF0000FFFF)
    v = (v | (v >> _U64(16))) & _U64(0x00000000FFFFFFFF)
    return v.astype(np.int64)


def _interleave(lat_i: np.ndarray, lon_i: np.ndarray, precision: int) -> np.ndarray:
    """The 5·precision geohash bits (uint64): longitude and latitude bits alternating from the
    most significant end, longitude first — so the last bit is longitude iff 5·precision is
    odd."""
    if (5 * precision) % 2:
        return _spread_bits(lon_i) | (_spread_bits(lat_i) << _U64(1))
    return _spread_bits(lat_i) | (_spread_bits(lon_i) << _U64(1))


def _deinterleave(code: np.ndarray, precision: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of _interleave: (latitude index, longitude index)."""
    if (5 * precision) % 2:
        return _gather_bits(code >> _U64(1)), _gather_bits(code)
    return _gather_bits(code), _gather_bits(code >> _U64(1))


def _geohash_chars(code: np.ndarray, precision: int) -> np.ndarray:
    """(n, precision) uint8 matrix of the base32 characters of each code, two characters (10
    bits) per table lookup."""
    pairs = (precision + 1) // 2
    out = np.empty((code.size, 2 * pairs), dtype=np.uint8)
    out16 = out.view(np.uint16)  # column k = characters 2k and 2k+1
    if precision % 2:
        code = code << _U64(5)  # a 0 as the padding character, cut off below
    for k in range(pairs):
        ten = (code >> _U64(10 * (pairs - 1 - k))) & _U64(1023)
        out16[:, k] = _BASE32_PAIRS[ten.astype(np.intp)]
    return out[:, :precision]


def _geohash_strings(code: np.ndarray, precision: int) -> np.ndarray:
    """Codes → numpy str array (dtype U<precision>). Widening the ASCII bytes to UCS-4 and
    viewing them as fixed-width str is the cheapest way numpy has to make strings."""
    return _geohash_chars(code, precision).astype(np.uint32).view(f"U{precision}").ravel()


def _parse_geohashes(hashes) -> list[tuple[np.ndarray, np.ndarray, int]] | None:
    """[(row positions, code, precision)] per geohash length, or None if some element is not a
    str of 1..12 alphabet characters (the caller then validates one by one for the message).

    All strings are joined with a newline (not in the alphabet) into one ASCII buffer that
    numpy reads at once; the newlines give each string's start and length.
    """
    try:
        blob = "\n".join(hashes).encode("ascii")  # TypeError: not a str; UnicodeError: non-ASCII
    except (TypeError, UnicodeError):
        return None
    n = len(hashes)
    buf = np.frombuffer(blob, dtype=np.uint8)
    values = _BASE32_VALUE[buf]  # newlines (and bad characters) → -1
    # The usual case, all of one length p: the buffer is n rows of p characters + a newline.
    p = len(hashes[0])
    if 1 <= p <= _MAX_PRECISION and buf.size == n * (p + 1) - 1:
        rows = np.append(values, -1).reshape(n, p + 1)[:, :p]
        if (buf[p :: p + 1] == 10).all() and (rows >= 0).all():
            return [(slice(None), _pack5(rows), p)]
    breaks = np.flatnonzero(values < 0)
    if breaks.size != n - 1 or (buf[breaks] != 10).any():
        return None  # a bad character, or a newline inside a string
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = breaks + 1
    lengths = np.empty(n, dtype=np.int64)
    lengths[:-1] = breaks - starts[:-1]
    lengths[-1] = buf.size - starts[-1]
    if lengths.min() < 1 or lengths.max() > _MAX_PRECISION:
        return None
    out = []
    for p in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == p)
        out.append((rows, _pack5(values[starts[rows, None] + np.arange(p)]), p))
    return out


def _pack5(values: np.ndarray) -> np.ndarray:
    """(n, p) matrix of 5-bit values → the uint64 of their bits, first column most significant
    (columns joined two at a time in uint16 first: fewer passes over 8-byte integers)."""
    v = values.astype(np.uint16)
    p = v.shape[1]
    code = np.zeros(v.shape[0], dtype=_U64)
    for c in range(0, p - 1, 2):
        code <<= _U64(10)
        code |= (v[:, c] << np.uint16(5)) | v[:, c + 1]
    if p % 2:
        code <<= _U64(5)
        code |= v[:, p - 1]
    return code


# ---------------------------------------------------------------------------------------------
# State boundaries
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _geojson_text() -> str:
    return files("jornada").joinpath("data", _GEOJSON_RESOURCE).read_text(encoding="utf-8")


def states_geojson() -> dict:
    """The UF boundaries as a GeoJSON FeatureCollection (properties: uf, name).

    A fresh dict on each call (parsing ~0.5 MB takes milliseconds), so a caller that decorates
    features for a map can't corrupt the copy everyone else uses.
    """
    return json.loads(_geojson_text())


@lru_cache(maxsize=1)
def load_states() -> dict[str, shapely.Geometry]:
    """{UF: shapely (Multi)Polygon}, prepared for fast repeated point tests. Cached."""
    fc = json.loads(_geojson_text())
    states: dict[str, shapely.Geometry] = {}
    for feature in fc["features"]:
        geom = shapely.geometry.shape(feature["geometry"])
        shapely.prepare(geom)  # builds GEOS' point-in-polygon index once, reused by every test
        states[feature["properties"]["uf"]] = geom
    missing = set(UF_NAMES) - set(states)
    if missing:
        raise RuntimeError(f"{_GEOJSON_RESOURCE} lacks UFs {sorted(missing)}")
    return {uf: states[uf] for uf in _UF_ORDER}


class _StateIndex:
    """Raster accelerator for point → UF.

    The grid covers the states' bounding box (plus a margin) in square cells of `cell` degrees,
    with one padding cell on every side that is always "outside", so lookups can clip instead of
    branching. Each cell holds:

    * 0 — no state touches the cell (ocean, other countries);
    * k in 1..27 — the cell lies entirely inside UF _UF_ORDER[k-1];
    * 255 (BORDER) — some state's boundary (a border or the coast) passes through the cell;
      `border_bits` then says which states' boundaries do: exactly the states that can contain
      a point of that cell, so only those are tested, exactly, with shapely.

    Why this is exact: a cell that no boundary touches is connected and boundary-free, so all
    of it is on one side of every boundary, and one test of its centre labels it. Cells are
    grown by EPS when looking for boundaries, so float rounding when a point is mapped to a
    cell can't put it in a "clean" cell that a boundary passes right next to.
    """

    BORDER = 255
    EPS = 1e-9

    def __init__(self, states: dict[str, shapely.Geometry], cell: float = 0.025):
        self.states = [states[uf] for uf in _UF_ORDER]
        self.cell = cell
        self.inv = 1.0 / cell
        xmin, ymin, xmax, ymax = shapely.total_bounds(self.states)
        # Snap the real grid to multiples of the cell size, one spare cell of margin each side.
        self.x0 = (math.floor(xmin * self.inv) - 1) * cell
        self.y0 = (math.floor(ymin * self.inv) - 1) * cell
        self.ncols = int(math.ceil((xmax - self.x0) * self.inv)) + 1
        self.nrows = int(math.ceil((ymax - self.y0) * self.inv)) + 1
        # Padded grid: real cell (r, c) is stored at (r + 1, c + 1).
        self.width = self.ncols + 2
        self.height = self.nrows + 2
        # Offsets such that padded column = floor(lon * inv - gx0), row = floor(lat * inv - gy0).
        self.gx0 = (self.x0 - cell) * self.inv
        self.gy0 = (self.y0 - cell) * self.inv
        self._build()
        # GEOS builds a prepared polygon's point locator lazily, on the first test of a point
        # inside its envelope. Do it now, under the build lock, so that concurrent lookups from
        # several threads only ever read it.
        for geom in self.states:
            p = geom.representative_point()
            shapely.intersects_xy(geom, p.x, p.y)

    # -- build --------------------------------------------------------------------------------

    def _build(self) -> None:
        assert len(self.states) < 32  # border_bits is a uint32 mask
        cell_state, cell_idx = self._border_cells()
        border_cells, inverse = np.unique(cell_idx, return_inverse=True)
        bits = np.zeros(border_cells.size, dtype=np.uint32)
        np.bitwise_or.at(bits, inverse, (np.uint32(1) << cell_state.astype(np.uint32)))

        # Padded uint8 grid, initialised to 0 = outside; padding cells stay 0 forever.
        grid = np.zeros((self.height, self.width), dtype=np.uint8)
        real = grid[1:-1, 1:-1]  # view on the real cells
        is_border = np.zeros(self.nrows * self.ncols, dtype=bool)
        is_border[border_cells] = True
        is_border = is_border.reshape(self.nrows, self.ncols)

        # Label the border-free cells. Along a row, consecutive border-free cells share an edge
        # that no boundary touches, so a whole run of them has one label: test one centre per
        # run (~100k tests instead of ~3M).
        flat_free = ~is_border.ravel()
        starts = np.flatnonzero(
            flat_free
            & np.concatenate(([True], ~flat_free[:-1]))  # previous cell is a border cell...
            | flat_free & (np.arange(flat_free.size) % self.ncols == 0)  # ...or a row starts
        )
        ends = _run_ends(flat_free, starts, self.ncols)
        rows, cols = np.divmod(starts, self.ncols)
        cx = self.x0 + (cols + 0.5) * self.cell
        cy = self.y0 + (rows + 0.5) * self.cell
        run_code = np.zeros(starts.size, dtype=np.uint8)
        for k, geom in enumerate(self.states):
            xmin, ymin, xmax, ymax = geom.bounds
            cand = np.flatnonzero(
                (run_code == 0) & (cx >= xmin) & (cx <= xmax) & (cy >= ymin) & (cy <= ymax)
            )
            hit = cand[shapely.intersects_xy(geom, cx[cand], cy[cand])]
            run_code[hit] = k + 1
        lengths = ends - starts
        flat = np.full(flat_free.size, self.BORDER, dtype=np.uint8)
        run_of_cell = np.repeat(np.arange(starts.size), lengths)
        flat[np.repeat(starts, lengths) + _ranges(lengths)] = run_code[run_of_cell]
        real[:, :] = flat.reshape(self.nrows, self.ncols)

        self.grid = grid
        self.grid_flat = grid.ravel()
        self.grid_bytes = grid.tobytes()  # bytes indexing is the fastest scalar lookup
        # Border cells by padded flat index, sorted (np.unique sorted them): a point's border id
        # is found by binary search, which needs no grid-sized int32 array.
        border_rows, border_cols = np.divmod(border_cells, self.ncols)
        self.border_flat = (border_rows + 1) * self.width + border_cols + 1
        self.border_bits = bits
        self.n_border_cells = int(border_cells.size)

    def _border_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(state index, real-cell index) for every cell that a state boundary touches.

        Each boundary is cut into its segments and each segment is tested exactly (GEOS
        intersects) against every EPS-grown cell that its bounding box overlaps.
        """
        seg_state, segs = [], []
        for k, geom in enumerate(self.states):
            coords, ring_idx = shapely.get_coordinates(
                shapely.get_parts(shapely.get_rings(shapely.get_parts(geom))), return_index=True
            )
            same_ring = ring_idx[:-1] == ring_idx[1:]  # consecutive vertices of one ring
            a, b = coords[:-1][same_ring], coords[1:][same_ring]
            segs.append(shapely.linestrings(np.stack([a, b], axis=1)))
            seg_state.append(np.full(a.shape[0], k, dtype=np.int16))
        segs = np.concatenate(segs)
        seg_state = np.concatenate(seg_state)

        # Candidate cells: every cell the segment's bounding box overlaps (grown by EPS).
        sx0, sy0, sx1, sy1 = shapely.bounds(segs).T
        c0 = np.floor((sx0 - self.EPS - self.x0) * self.inv).astype(np.int64)
        c1 = np.floor((sx1 + self.EPS - self.x0) * self.inv).astype(np.int64)
        r0 = np.floor((sy0 - self.EPS - self.y0) * self.inv).astype(np.int64)
        r1 = np.floor((sy1 + self.EPS - self.y0) * self.inv).astype(np.int64)
        ncells = (c1 - c0 + 1) * (r1 - r0 + 1)
        seg_of = np.repeat(np.arange(segs.size), ncells)
        k = _ranges(ncells)  # position of each candidate within its segment's bbox
        w = np.repeat(c1 - c0 + 1, ncells)
        rr = np.repeat(r0, ncells) + k // w
        cc = np.repeat(c0, ncells) + k % w
        # Exact test only where a segment's bbox covers more than one cell (a single-cell bbox
        # means the whole segment is inside that cell).
        multi = ncells[seg_of] > 1
        boxes = shapely.box(
            self.x0 + cc[multi] * self.cell - self.EPS,
            self.y0 + rr[multi] * self.cell - self.EPS,
            self.x0 + (cc[multi] + 1) * self.cell + self.EPS,
            self.y0 + (rr[multi] + 1) * self.cell + self.EPS,
        )
        keep = np.ones(seg_of.size, dtype=bool)
        keep[multi] = shapely.intersects(segs[seg_of[multi]], boxes)
        return seg_state[seg_of[keep]], rr[keep] * self.ncols + cc[keep]

    # -- lookup -------------------------------------------------------------------------------

    def lookup(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """uint8 code per point (0 = outside, k = _UF_ORDER[k-1]). Inputs already validated."""
        # Padded column = floor((lon - x0) / cell) + 1 = floor(lon * inv - gx0), clipped into the
        # padding: anything west/east of the grid lands in column 0 / width-1, which is always 0.
        # In-place float ops, one floor and one cast: this is most of the per-point cost.
        gx = lon * self.inv
        gx -= self.gx0
        np.clip(gx, 0.0, self.width - 1, out=gx)
        gy = lat * self.inv
        gy -= self.gy0
        np.clip(gy, 0.0, self.height - 1, out=gy)
        np.floor(gy, out=gy)
        gy *= self.width
        gy += gx  # floor(row) * width + col: exact in float64, and truncation floors col (>= 0)
        idx = gy.astype(np.intp)
        codes = self.grid_flat[idx]

        border = np.flatnonzero(codes == self.BORDER)
        if border.size:
            bid = np.searchsorted(self.border_flat, idx[border])
            codes[border] = self._exact(lat[border], lon[border], bid)
        return codes

    def _exact(self, lat: np.ndarray, lon: np.ndarray, bid: np.ndarray) -> np.ndarray:
        """Polygon test for points in border cells, against the candidate states only."""
        out = np.zeros(lat.size, dtype=np.uint8)
        bits = self.border_bits[bid]
        for k, geom in enumerate(self.states):
            sel = np.flatnonzero((out == 0) & ((bits >> np.uint32(k)) & np.uint32(1)).astype(bool))
            if sel.size:
                inside = shapely.intersects_xy(geom, lon[sel], lat[sel])
                out[sel[inside]] = k + 1
        return out

    def lookup_one(self, lat: float, lon: float) -> int:
        """Scalar twin of lookup() without numpy overhead (same grid, same exact fallback)."""
        gx = lon * self.inv - self.gx0
        gy = lat * self.inv - self.gy0
        if not (0.0 <= gx < self.width and 0.0 <= gy < self.height):
            return 0
        i = int(gy) * self.width + int(gx)
        code = self.grid_bytes[i]
        if code != self.BORDER:
            return code
        bits = int(self.border_bits[np.searchsorted(self.border_flat, i)])
        for k, geom in enumerate(self.states):
            if bits >> k & 1 and shapely.intersects_xy(geom, lon, lat):
                return k + 1
        return 0


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(n) for n in lengths, vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets


def _run_ends(flat_free: np.ndarray, starts: np.ndarray, ncols: int) -> np.ndarray:
    """End (exclusive) of each run of border-free cells that begins at `starts` (runs never
    cross a row end)."""
    n = flat_free.size
    # A run ends before the next border cell or at the end of its row, whichever comes first.
    next_border = np.flatnonzero(~flat_free)
    pos = np.searchsorted(next_border, starts)
    nb = np.where(pos < next_border.size, next_border[np.minimum(pos, next_border.size - 1)], n)
    row_end = (starts // ncols + 1) * ncols
    return np.minimum(nb, row_end)


_index_lock = threading.Lock()
_index: _StateIndex | None = None
_UF_LOOKUP = np.array([None, *_UF_ORDER], dtype=object)  # code → UF (0 → None)


def _get_index() -> _StateIndex:
    """Build the raster once per process (~0.2 s), lazily: importing jornada.geo stays cheap."""
    global _index
    if _index is None:
        with _index_lock:  # two threads racing on first use would build it twice
            if _index is None:
                _index = _StateIndex(load_states())
    return _index


def state_of(lat: float, lon: float) -> str | None:
    """Two-letter UF of the state containing the point, or None outside Brazil."""
    lat_f, lon_f = _check_lat_lon(lat, lon)
    return _UF_LOOKUP[_get_index().lookup_one(lat_f, lon_f)]


def states_of(lats: Any, lons: Any) -> np.ndarray:
    """Vectorised state_of: object array of UF codes (None outside Brazil), same length as input.

    Accepts lists, numpy arrays or pandas Series; raises ValueError if any coordinate is NaN or
    out of range (filter missing values first — silently answering None would hide bad data).
    """
    lat, lon = _as_lat_lon_arrays(lats, lons)
    codes = np.empty(lat.size, dtype=np.uint8)
    index = _get_index()

    def fill(a: int, b: int) -> bool:
        la, lo = lat[a:b], lon[a:b]
        if not _coords_ok(la, lo):
            return False
        codes[a:b] = index.lookup(la, lo)
        return True

    if not _run_chunked(fill, lat.size):
        _raise_bad_coords(lat, lon)
    # code → UF str/None. This step holds the GIL (object refcounts), so it runs once, here,
    # rather than in the threads, where it would just make them queue for the GIL.
    return _UF_LOOKUP[codes]


# Below this many points one thread is faster than paying for thread start-up.
_PARALLEL_MIN_POINTS = 200_000


def _n_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _run_chunked(fn: Callable[[int, int], bool], n: int) -> bool:
    """Run fn(start, stop) over [0, n), split over the available cores for big inputs; True if
    every call returned True.

    numpy's arithmetic, reductions and gathers and shapely's point tests release the GIL, so
    the chunks really run in parallel (~1.7x on 2 cores). A short-lived pool per call keeps
    this fork-safe (no idle threads in a global executor that a forked child inherits dead).
    """
    workers = min(_n_workers(), n // (_PARALLEL_MIN_POINTS // 2))
    if workers < 2:
        return fn(0, n)
    edges = np.linspace(0, n, workers + 1).astype(np.intp).tolist()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jornada-geo") as pool:
        return all(pool.map(fn, edges[:-1], edges[1:]))


def state_of_geohash(geohash: str) -> str | None:
    """UF containing the centre of a geohash cell."""
    return state_of(*decode(geohash))


def states_of_geohash(hashes: Iterable[str]) -> np.ndarray:
    """UF of each geohash cell centre (e.g. a pandas Series of order geohashes)."""
    lats, lons = decode_many(hashes)
    return states_of(lats, lons)


# ---- geohash prefix → UF: the state lookup as a table (for engines that cannot run shapely) ----

UF_CELL_LEVELS = (4, 5)   # the prefix lengths of uf_cells(): ~39 km and ~4.9 km cells


def _cell_boxes(cells: list[str]) -> tuple[Any, np.ndarray, np.ndarray]:
    """shapely boxes and centres of geohash cells that share one length."""
    lat, lon = decode_many(cells)
    bits = 5 * len(cells[0])
    half_lon, half_lat = 180.0 / 2 ** ((bits + 1) // 2), 90.0 / 2 ** (bits // 2)
    return shapely.box(lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat), lat, lon


@lru_cache(maxsize=4)
def uf_cells(levels: tuple[int, int] = UF_CELL_LEVELS) -> tuple[tuple[str, str], ...]:
    """(geohash prefix, UF) pairs that answer "which state?" by a prefix match instead of a
    polygon test — what a query engine without shapely (Spark's real-time mode) can do natively.

    A cell of ``levels[0]`` characters that lies inside one state's polygon is one row; a cell
    that a border or the shore crosses is split into its ``levels[1]``-character cells, each
    labelled with the one state it touches (the shore: its land is that state's), or — where two
    or more states share it — with the state of its centre. Cells that touch no state are left
    out: no row means outside Brazil (None), as :func:`states_of` says. Exact for every point of
    a cell inside one state; where it can differ from :func:`state_of_geohash`: a 7-character
    cell in a split cell that two states share (its own centre on the other side), and a
    foreign-land cell beside a land border (labelled with the Brazilian state it touches).
    Measure it on your data with :func:`states_of_prefix` (tests/test_geo.py does).
    """
    coarse, fine = levels
    states = load_states()
    names, polys = list(states), list(states.values())
    tree = shapely.STRtree(polys)
    xmin, ymin, xmax, ymax = shapely.total_bounds(polys)
    pending = list(GEOHASH_ALPHABET)
    rows: list[tuple[str, str]] = []
    for length in range(1, fine + 1):
        if length > 1:
            pending = [c + a for c in pending for a in GEOHASH_ALPHABET]
        boxes, lat, lon = _cell_boxes(pending)
        b_in, p_in = tree.query(boxes, predicate="within")      # box inside one state's polygon
        inside = {int(b): names[p] for b, p in zip(b_in, p_in)}
        b_hit, p_hit = tree.query(boxes, predicate="intersects")
        touched: dict[int, set[str]] = {}
        for b, p in zip(b_hit, p_hit):
            touched.setdefault(int(b), set()).add(names[p])
        if length < coarse:
            pending = [pending[i] for i in sorted(touched)]
            continue
        rows += [(pending[i], uf) for i, uf in inside.items()]
        split = [i for i in sorted(touched) if i not in inside]
        if length == fine:
            centre = states_of(lat[split], lon[split])
            for i, uf in zip(split, centre):
                ufs = touched[i]
                label = next(iter(ufs)) if len(ufs) == 1 else uf
                if label is not None:
                    rows.append((pending[i], label))
        pending = [pending[i] for i in split]
    return tuple(sorted(rows))


def states_of_prefix(hashes: Iterable[str], cells: Iterable[tuple[str, str]] | None = None
                     ) -> np.ndarray:
    """UF of each geohash by the longest matching prefix of ``cells`` (default
    :func:`uf_cells`): the answer a prefix-table join gives, to compare with
    :func:`states_of_geohash`."""
    table = dict(uf_cells() if cells is None else cells)
    lengths = sorted({len(p) for p in table}, reverse=True)
    out = []
    for gh in hashes:
        gh = str(gh).strip().lower()
        out.append(next((table[gh[:n]] for n in lengths if gh[:n] in table), None))
    return np.asarray(out, dtype=object)
