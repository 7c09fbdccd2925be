"""Per-customer traits derived from the id (CPF, devices, phones, activity) and order places."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from .. import catalog


# ---------------------------------------------------------------------------------------------
# CPF numbers
# ---------------------------------------------------------------------------------------------

_CPF_W1 = np.arange(10, 1, -1)   # weights of the 9 base digits for the first check digit
_CPF_W2 = np.arange(11, 1, -1)   # weights of 9 digits + first check digit for the second


def cpf_from_base(base: np.ndarray | int) -> np.ndarray | int:
    """Append the two CPF check digits to 9-digit bases (vectorised): 123456789 → 12345678909."""
    scalar = np.isscalar(base)
    b = np.atleast_1d(np.asarray(base, dtype=np.int64))
    digits = (b[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    r1 = (digits * _CPF_W1).sum(axis=1) % 11
    d1 = np.where(r1 < 2, 0, 11 - r1)
    r2 = ((digits * _CPF_W2[:9]).sum(axis=1) + d1 * 2) % 11
    d2 = np.where(r2 < 2, 0, 11 - r2)
    out = b * 100 + d1 * 10 + d2
    return int(out[0]) if scalar else out


def is_valid_cpf(number: int | str) -> bool:
    """True when an 11-digit number has correct CPF check digits (and is not all one digit)."""
    s = re.sub(r"\D", "", str(number)).zfill(11)
    if len(s) != 11 or len(set(s)) == 1:
        return False
    return cpf_from_base(int(s[:9])) == int(s)


def format_cpf(number: int) -> str:
    s = str(int(number)).zfill(11)
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


# ---------------------------------------------------------------------------------------------
# Per-customer traits derived from the id (stable across loads and runs)
# ---------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def _mix64(ids, salt: int) -> np.ndarray:
    """SplitMix64 finaliser of id + salt: a fixed, well-spread 64-bit hash (vectorised)."""
    z = np.asarray(ids).astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) & _M64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit(ids, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per id."""
    return (_mix64(ids, salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


_DEVICES = np.array(catalog.DISPOSITIVOS, dtype=object)
_DEVICE_CUM = np.cumsum([catalog.DISPOSITIVO_PESOS[d] for d in catalog.DISPOSITIVOS])
_DEVICE_CUM = _DEVICE_CUM / _DEVICE_CUM[-1]


def _habitual_index(ids) -> np.ndarray:
    return np.minimum(np.searchsorted(_DEVICE_CUM, _unit(ids, 1), side="right"), len(_DEVICES) - 1)


def habitual_device(ids) -> np.ndarray:
    """The device each customer normally shops with (weighted by how common devices are)."""
    return _DEVICES[_habitual_index(ids)]


def fraud_device(ids) -> np.ndarray:
    """The device a fraudster uses on each customer's account: never the habitual one."""
    n = len(_DEVICES)
    step = 1 + (_mix64(ids, 2) % np.uint64(n - 1)).astype(np.int64)
    return _DEVICES[(_habitual_index(ids) + step) % n]


def new_device(ids) -> np.ndarray:
    """The phone a customer switches to in a legit device change: neither the habitual one nor
    the fraudster's (so a fraud stays a fraud, whichever phone the customer uses by then)."""
    n = len(_DEVICES)
    fraud_step = 1 + (_mix64(ids, 2) % np.uint64(n - 1)).astype(np.int64)
    step = 1 + (_mix64(ids, 5) % np.uint64(n - 2)).astype(np.int64)   # 1..n-2, skipping fraud_step
    step = np.where(step >= fraud_step, step + 1, step)
    return _DEVICES[(_habitual_index(ids) + step) % n]


DEVICE_CHANGE_AFTER = (2, 7)   # a changer places 2..7 orders on the old phone, then switches
_NEVER = np.iinfo(np.int64).max


def device_change_after(ids, share: float) -> np.ndarray:
    """Orders each customer places on the old phone before a legit switch to :func:`new_device`
    (``_NEVER`` for the customers, 1 - ``share`` of them, who keep their phone)."""
    lo, hi = DEVICE_CHANGE_AFTER
    k = lo + (_mix64(ids, 7) % np.uint64(hi - lo + 1)).astype(np.int64)
    return np.where(_unit(ids, 6) < share, k, _NEVER)


def current_device(ids, rank, share: float) -> np.ndarray:
    """The device a customer honestly uses for their order number ``rank`` (0 = first order):
    the habitual one, or the new phone once a device changer has switched."""
    ids = np.asarray(ids)
    switched = np.asarray(rank) >= device_change_after(ids, share)
    return np.where(switched, new_device(ids), habitual_device(ids))


def phone_of(ids, ddd) -> np.ndarray:
    """A mobile number per customer, with the area code (DDD) of their home city."""
    num = (_mix64(ids, 3) % np.uint64(100_000_000)).astype(np.int64)
    ddd = np.broadcast_to(np.asarray(ddd, dtype=np.int64), num.shape)
    return np.array([f"({d:02d}) 9{n // 10000:04d}-{n % 10000:04d}"
                     for d, n in zip(ddd.tolist(), num.tolist())], dtype=object)


def activity_weight(ids) -> np.ndarray:
    """How often each customer shops relative to others (a few buy a lot, most buy a little)."""
    u = _unit(ids, 4)
    return 0.15 + (-np.log1p(-u)) ** 1.3


_CITY_DDD = {(c.uf, c.nome): c.ddd for c in catalog.HOME_CITIES}


def ddd_of(uf: Iterable[str], cidade: Iterable[str]) -> np.ndarray:
    return np.array([_CITY_DDD.get((u, c), catalog.DDD_BY_UF.get(u, 11))
                     for u, c in zip(uf, cidade)], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Points: scattered around a centre, checked against the real state polygons
# ---------------------------------------------------------------------------------------------

_KM_PER_DEG = 111.32
GEOHASH_PRECISION = 7


def _jitter(rng: np.random.Generator, lat, lon, radius_km):
    """Uniform random points in discs of ``radius_km`` around (lat, lon)."""
    n = len(lat)
    r = np.asarray(radius_km, dtype=float) * np.sqrt(rng.random(n))
    t = rng.random(n) * 2 * np.pi
    dlat = r * np.cos(t) / _KM_PER_DEG
    dlon = r * np.sin(t) / (_KM_PER_DEG * np.cos(np.radians(lat)))
    return np.clip(lat + dlat, -89.9, 89.9), np.clip(lon + dlon, -179.9, 179.9)


def _scatter(rng: np.random.Generator, lat, lon, radius_km, expected_uf, fallback,
             tries: int = 10) -> np.ndarray:
    """Geohashes of random points near each centre whose cell centre lies in ``expected_uf``.

    ``expected_uf`` None means "outside Brazil". Points that land elsewhere (over a border, in the
    sea) are redrawn; after ``tries`` the ``fallback`` geohash is used (a centre checked before).
    The check is the same one the location rule makes: :func:`jornada.geo.states_of_geohash`.
    """
    from .. import geo

    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    radius_km = np.broadcast_to(np.asarray(radius_km, dtype=float), lat.shape)
    expected = np.asarray(expected_uf, dtype=object)
    out = np.asarray(fallback, dtype=object).copy()
    pending = np.arange(lat.size)
    for _ in range(tries):
        if pending.size == 0:
            break
        la, lo = _jitter(rng, lat[pending], lon[pending], radius_km[pending])
        gh = np.array(geo.encode_many(la, lo, precision=GEOHASH_PRECISION), dtype=object)
        ok = geo.states_of_geohash(gh) == expected[pending]
        out[pending[ok]] = gh[ok]
        pending = pending[~ok]
    return out


def _fraud_points(rng: np.random.Generator, n: int,
                  domestic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n geohashes in ``catalog.FRAUD_PLACES`` (another state or abroad) and the place names.

    ``domestic``: only the places in another Brazilian state — where honest customers travel to
    (the same cities fraudsters order from: the location rule can't tell them apart).
    """
    from .. import geo

    places = [p for p in catalog.FRAUD_PLACES if p.uf is not None or not domestic]
    w = np.array([p.peso for p in places], dtype=float)
    k = rng.choice(len(places), size=n, p=w / w.sum())
    lat = np.array([p.lat for p in places])[k]
    lon = np.array([p.lon for p in places])[k]
    centre = np.array([geo.encode(p.lat, p.lon, GEOHASH_PRECISION) for p in places], dtype=object)
    gh = _scatter(rng, lat, lon, np.array([p.raio_km for p in places])[k],
                  np.array([p.uf for p in places], dtype=object)[k], centre[k])
    return gh, np.array([p.nome for p in places], dtype=object)[k]
