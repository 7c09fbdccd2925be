"""Deterministic data generators for the Liga Sudoers OLTP database.

Three ways to fill the shop, as in the original course, without its bugs:

* :func:`load_customers` — new customers with a home address, in bulk (COPY, one transaction);
* :func:`load_history` — past orders (1..max_days days before a reference ``now``) for EXISTING
  customers and products, ~1 % fraud, bulk-loaded with COPY in one transaction;
* :func:`run_stream` — current-time orders, one transaction per order, new customers on the way,
  ~5 % fraud.

Determinism: every random choice comes from a ``numpy.random.Generator`` (and a Faker instance)
seeded from ``seed``; dates come from the reference ``now``, never from the wall clock. So the same
seed + same ``now`` + same database state gives identical rows. Per-customer traits that must stay
the same across loads (habitual device, phone number, how often they shop, the device a fraudster
uses on their account) are derived from the customer id with a fixed hash, not drawn.

How fraud is simulated (the ground truth goes to ``fraudes_confirmadas``; the rules in
:mod:`jornada.fraud` never read it):

* legit order — from near home (a few km, inside the home state), habitual device;
* ``localizacao`` — from a place outside SP/MG/RJ (another state or abroad, see
  ``catalog.FRAUD_PLACES``), with the customer's habitual device (the account was taken over);
* ``dispositivo`` — from home, but on a device that is not the habitual one (only for customers
  with earlier orders: a first order has no device history). The fraudster's device is fixed per
  customer, and sometimes the fraudster comes back for the customer's next order — the cases that
  tell the device-rule variants apart.

:func:`load_history_row_by_row` keeps the original course's row-by-row anti-pattern, only so the
benchmark can measure the difference.
"""

from __future__ import annotations

import math
import re
import signal
import threading
import time
from collections import deque
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from . import catalog

# ---------------------------------------------------------------------------------------------
# Sizes and parameter validation
# ---------------------------------------------------------------------------------------------

SIZE_PROFILES: dict[str, dict] = {
    "tiny": {"customers": 200, "orders": 2_000},
    "course": {"customers": 2_000, "orders": 20_000},
    "full": {"customers": 50_000, "orders": 1_000_000},
}

MAX_COUNT = 20_000_000  # far beyond any lesson; protects the machine from a typo


def resolve_profile(name: str) -> dict:
    """The size preset called ``name`` (a copy), or ValueError listing the valid names."""
    try:
        return dict(SIZE_PROFILES[name])
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {name!r}: choose one of "
                         f"{', '.join(SIZE_PROFILES)}") from None


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def validate(count=None, rate=None, fraud_rate=None, duration=None, max_days=None,
             new_customer_share=None) -> None:
    """Check generator parameters before anything touches the database; ValueError if wrong.

    ``None`` means "not given" and is always accepted.
    """
    if count is not None:
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool):
            raise ValueError(f"count must be a whole number, got {count!r}")
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        if count > MAX_COUNT:
            raise ValueError(f"count {count:,} is too large (at most {MAX_COUNT:,})")
    if rate is not None:
        if not _is_number(rate) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be a positive number of orders per second, got {rate!r}"
                             " (leave it out to go as fast as possible)")
    if fraud_rate is not None:
        if not _is_number(fraud_rate) or not 0.0 <= fraud_rate <= 1.0:
            raise ValueError(f"fraud rate must be a share between 0 and 1 (0.01 = 1%), "
                             f"got {fraud_rate!r}")
    if duration is not None:
        if not _is_number(duration) or not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    if max_days is not None:
        if not isinstance(max_days, (int, np.integer)) or isinstance(max_days, bool):
            raise ValueError(f"max_days must be a whole number of days, got {max_days!r}")
        if not 1 <= max_days <= 36_500:
            raise ValueError(f"max_days must be between 1 and 36500, got {max_days}")
    if new_customer_share is not None:
        if not _is_number(new_customer_share) or not 0.0 <= new_customer_share <= 1.0:
            raise ValueError(f"new customer share must be between 0 and 1, "
                             f"got {new_customer_share!r}")


def _naive_utc(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise ValueError(f"now must be a datetime, got {now!r}")
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return now


def utcnow() -> datetime:
    """The current time as a naive UTC datetime (the stream's default clock)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


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
    from . import geo

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


def _fraud_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n geohashes in ``catalog.FRAUD_PLACES`` (another state or abroad) and the place names."""
    from . import geo

    places = catalog.FRAUD_PLACES
    w = np.array([p.peso for p in places], dtype=float)
    k = rng.choice(len(places), size=n, p=w / w.sum())
    lat = np.array([p.lat for p in places])[k]
    lon = np.array([p.lon for p in places])[k]
    centre = np.array([geo.encode(p.lat, p.lon, GEOHASH_PRECISION) for p in places], dtype=object)
    gh = _scatter(rng, lat, lon, np.array([p.raio_km for p in places])[k],
                  np.array([p.uf for p in places], dtype=object)[k], centre[k])
    return gh, np.array([p.nome for p in places], dtype=object)[k]


# ---------------------------------------------------------------------------------------------
# Customers (pure)
# ---------------------------------------------------------------------------------------------

_TAG_IDS, _TAG_CUSTOMERS, _TAG_HISTORY, _TAG_STREAM = 11, 12, 13, 14
_PREFIX = re.compile(r"^(?:Sr|Sra|Srta|Dr|Dra)\.\s+")
_AGE_BAND_P = np.array([0.22, 0.38, 0.28, 0.12])   # share of customers per catalog.AGE_BANDS
_AGE_RANGES = [(18, 25), (26, 40), (41, 60), (61, 85)]
CUSTOMER_COLUMNS = ["id", "nome", "sexo", "dt_nasc", "uf", "cidade", "geohash", "created_at"]


def _faker(seed_parts: Iterable[int]):
    from faker import Faker

    fake = Faker("pt_BR")
    fake.seed_instance(int(np.random.SeedSequence(list(seed_parts)).generate_state(1)[0]))
    return fake


def new_customer_ids(count: int, *, seed: int, exclude: Iterable[int] = (),
                     stream: int = 0) -> np.ndarray:
    """``count`` distinct CPF-like ids (valid check digits) from ``seed``, none in ``exclude``.

    Candidates come in a fixed pseudo-random sequence; colliding ones are skipped, so the result
    depends only on the seed and on which ids already exist.
    """
    rng = np.random.default_rng([seed, _TAG_IDS, stream])
    taken = np.fromiter((int(x) for x in exclude), dtype=np.int64)
    chosen: list[np.ndarray] = []
    have = 0
    while have < count:
        base = rng.integers(10_000_000, 1_000_000_000, size=max(64, int((count - have) * 1.1)))
        ids = cpf_from_base(base)
        ids = ids[~np.isin(ids, taken)]
        # keep first occurrences, in draw order
        _, first = np.unique(ids, return_index=True)
        ids = ids[np.sort(first)]
        repdigit = np.array([len(set(str(i).zfill(11))) == 1 for i in ids.tolist()], dtype=bool)
        ids = ids[~repdigit][: count - have]
        chosen.append(ids)
        taken = np.concatenate([taken, ids])
        have += ids.size
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def generate_customers(count: int, *, seed: int, now: datetime, exclude_ids: Iterable[int] = (),
                       created_at: datetime | None = None, stream: int = 0) -> pd.DataFrame:
    """``count`` new customers with a home (pure: no database).

    Columns: id, nome, sexo, dt_nasc, uf, cidade, geohash, created_at. Sex is drawn first and the
    name comes from Faker's ``name_male``/``name_female`` (pt_BR); ages 18–85 at ``now``. The home
    is a point within the city's radius, inside the home state (checked on real boundaries).
    ``created_at`` defaults to a day 181–1100 days before ``now`` (customers pre-date history).
    """
    from . import geo

    now = _naive_utc(now)
    ids = new_customer_ids(count, seed=seed, exclude=exclude_ids, stream=stream)
    # Attributes are seeded by the ids too, so a second batch with the same seed (which skips
    # the ids of the first) does not repeat the first batch's names.
    salt = int(_mix64(ids, 5).sum() % np.uint64(2**62)) if count else 0
    rng = np.random.default_rng([seed, _TAG_CUSTOMERS, stream, salt])
    fake = _faker([seed, _TAG_CUSTOMERS, stream, salt])

    sexo = np.where(rng.random(count) < 0.51, "F", "M").astype(object)
    nomes = np.array([_PREFIX.sub("", fake.name_female() if s == "F" else fake.name_male())
                      for s in sexo], dtype=object)

    band = rng.choice(len(_AGE_RANGES), size=count, p=_AGE_BAND_P)
    lo = np.array([r[0] for r in _AGE_RANGES])[band]
    hi = np.array([r[1] for r in _AGE_RANGES])[band]
    age = rng.integers(lo, hi + 1)
    # birthday: today minus `age` years minus 0..364 days (age at `now` is exactly `age`)
    today = now.date()
    days_back = rng.integers(0, 365, size=count)
    dt_nasc = np.array([_years_before(today, int(a)) - timedelta(days=int(d))
                        for a, d in zip(age.tolist(), days_back.tolist())], dtype=object)

    ufs = list(catalog.HOME_STATE_WEIGHTS)
    pu = np.array([catalog.HOME_STATE_WEIGHTS[u] for u in ufs])
    uf = np.array(ufs, dtype=object)[rng.choice(len(ufs), size=count, p=pu / pu.sum())]
    cities = catalog.HOME_CITIES
    city_idx = np.empty(count, dtype=np.int64)
    for u in ufs:
        rows = np.flatnonzero(uf == u)
        cand = [i for i, c in enumerate(cities) if c.uf == u]
        w = np.array([cities[i].peso for i in cand])
        city_idx[rows] = np.array(cand)[rng.choice(len(cand), size=rows.size, p=w / w.sum())]
    c_lat = np.array([c.lat for c in cities])[city_idx]
    c_lon = np.array([c.lon for c in cities])[city_idx]
    c_rad = np.array([c.raio_km for c in cities])[city_idx]
    centre = np.array([geo.encode(c.lat, c.lon, GEOHASH_PRECISION) for c in cities],
                      dtype=object)[city_idx]
    home = _scatter(rng, c_lat, c_lon, c_rad, uf, centre)

    if created_at is None:
        back = rng.integers(181 * 86400, 1100 * 86400, size=count)
        now_s = np.datetime64(now.replace(microsecond=0), "s")
        created = (now_s - back.astype("timedelta64[s]")).astype("datetime64[us]")
    else:
        created = np.full(count, np.datetime64(_naive_utc(created_at), "us"))
    return pd.DataFrame({
        "id": ids.astype(np.int64), "nome": nomes, "sexo": sexo, "dt_nasc": dt_nasc, "uf": uf,
        "cidade": np.array([cities[i].nome for i in city_idx], dtype=object), "geohash": home,
        "created_at": pd.to_datetime(created),
    }, columns=CUSTOMER_COLUMNS)


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


# ---------------------------------------------------------------------------------------------
# Orders (pure)
# ---------------------------------------------------------------------------------------------

LEGIT, LOCATION, DEVICE = 0, 1, 2
TIPO_FRAUDE = {LOCATION: "localizacao", DEVICE: "dispositivo"}
ORDER_RADIUS_KM = 3.0          # legit orders come from within this distance of home
REPEAT_SHARE = 0.35            # device frauds whose fraudster returns for the next order
_ITEMS_P = np.array([0.34, 0.27, 0.19, 0.12, 0.08])   # 1..5 distinct items per order
_QTDE_P = np.array([0.68, 0.22, 0.10])                 # 1..3 units per item
_PROFILE_KEYS = [(s, label) for s in ("M", "F") for _, _, label in catalog.AGE_BANDS]
_BAND_EDGES = np.array([high for _, high, _ in catalog.AGE_BANDS[:-1]])


def catalogue_products() -> pd.DataFrame:
    """The authored catalogue as the generators need it: id, categoria, cents (no database)."""
    return pd.DataFrame({
        "id": np.arange(1, len(catalog.PRODUTOS) + 1, dtype=np.int64),
        "categoria": [c for c, _, _ in catalog.PRODUTOS],
        "cents": [int(p * 100) for _, _, p in catalog.PRODUTOS],
    })


def _product_pools(produtos: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per profile (in _PROFILE_KEYS order): product row positions and their probabilities."""
    cats = produtos["categoria"].to_numpy()
    cents = produtos["cents"].to_numpy(dtype=float)
    pools = []
    for key in _PROFILE_KEYS:
        idx = np.flatnonzero(np.isin(cats, catalog.PERFIS[key]))
        if idx.size < 5:       # a trimmed catalogue: fall back to everything on sale
            idx = np.arange(len(produtos))
        w = (np.maximum(cents[idx], 100.0) / 100.0) ** -0.35   # cheaper things sell more often
        pools.append((idx, w / w.sum()))
    return pools


def _age_at(dt_nasc: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Whole years between birth dates and order dates (vectorised, calendar-exact)."""
    def ymd(a):
        a = np.asarray(a).astype("datetime64[D]")
        y = a.astype("datetime64[Y]").astype(np.int64) + 1970
        m = a.astype("datetime64[M]").astype(np.int64) % 12 + 1
        d = (a - a.astype("datetime64[M]")).astype(np.int64) + 1
        return y * 10000 + m * 100 + d
    return (ymd(when) - ymd(dt_nasc)) // 10000


def _profile_codes(sexo: np.ndarray, age: np.ndarray) -> np.ndarray:
    band = np.searchsorted(_BAND_EDGES, age, side="left")
    return np.where(np.asarray(sexo) == "F", len(catalog.AGE_BANDS), 0) + band


def _sample_items(rng: np.random.Generator, profile: np.ndarray, n_items: np.ndarray,
                  pools) -> np.ndarray:
    """(orders, 5) product row positions; the first n_items of each row are distinct."""
    n = profile.size
    out = np.full((n, 5), -1, dtype=np.int64)
    cols = np.arange(5)
    for code, (idx, p) in enumerate(pools):
        pending = np.flatnonzero(profile == code)
        while pending.size:
            draw = idx[rng.choice(idx.size, size=(pending.size, 5), p=p)]
            used = cols < n_items[pending, None]
            keyed = np.where(used, draw, -1 - cols)       # unused slots never clash
            dup = np.zeros(pending.size, dtype=bool)      # any two slots equal (10 pairs:
            for a in range(4):                            # cheaper than sorting each row)
                for b in range(a + 1, 5):
                    dup |= keyed[:, a] == keyed[:, b]
            ok = pending[~dup]
            out[ok] = np.where(used[~dup], draw[~dup], -1)
            pending = pending[dup]
    return out


def _customer_arrays(customers: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-customer arrays the order builder indexes into (home decoded once per customer)."""
    from . import geo

    home = customers["geohash"].to_numpy(dtype=object)
    lat, lon = geo.decode_many(home) if len(home) else (np.zeros(0), np.zeros(0))
    ids = customers["id"].to_numpy(dtype=np.int64)
    ddd = ddd_of(customers["uf"], customers["cidade"])
    return {"id": ids, "sexo": customers["sexo"].to_numpy(dtype=object),
            "dt_nasc": pd.to_datetime(customers["dt_nasc"]).to_numpy().astype("datetime64[D]"),
            "uf": customers["uf"].to_numpy(dtype=object), "home": home, "lat": lat, "lon": lon,
            "telefone": phone_of(ids, ddd)}


def _build_orders(rng: np.random.Generator, cust: dict[str, np.ndarray], ci: np.ndarray,
                  dt: np.ndarray, kind: np.ndarray, produtos: pd.DataFrame, pools) -> dict:
    """Everything about a set of orders once customer (row ``ci`` of ``cust``), date and fraud
    kind are decided.

    Returns arrays: dispositivo, geohash, telefone, and the items (order position, product id,
    qtde, unit and total cents) plus each order's total in cents.
    """
    n = ci.size
    cust_id = cust["id"][ci]
    # where: near home for legit and device fraud, a fraud place for location fraud
    geohash = np.empty(n, dtype=object)
    near = np.flatnonzero(kind != LOCATION)
    if near.size:
        c = ci[near]
        geohash[near] = _scatter(rng, cust["lat"][c], cust["lon"][c], ORDER_RADIUS_KM,
                                 cust["uf"][c], cust["home"][c])
    far = np.flatnonzero(kind == LOCATION)
    if far.size:
        geohash[far] = _fraud_points(rng, far.size)[0]
    # which device: habitual, except in device fraud
    dispositivo = habitual_device(cust_id)
    dev = kind == DEVICE
    if dev.any():
        dispositivo[dev] = fraud_device(cust_id[dev])
    telefone = cust["telefone"][ci]

    # what: products by profile (sex × age band at the order date)
    profile = _profile_codes(cust["sexo"][ci], _age_at(cust["dt_nasc"][ci], dt))
    n_items = rng.choice(5, size=n, p=_ITEMS_P) + 1
    slots = _sample_items(rng, profile, n_items, pools)
    used = slots >= 0
    order_pos = np.repeat(np.arange(n), n_items)
    prod_row = slots[used]
    cents = produtos["cents"].to_numpy(dtype=np.int64)[prod_row]
    qtde = rng.choice(3, size=prod_row.size, p=_QTDE_P) + 1
    qtde = np.where(cents >= 100_000, 1, qtde)            # nobody buys three motorcycles
    total = qtde * cents
    return {
        "dispositivo": dispositivo, "geohash": geohash, "telefone": telefone,
        "item_order": order_pos, "item_produto": produtos["id"].to_numpy(dtype=np.int64)[prod_row],
        "item_qtde": qtde, "item_unit": cents, "item_total": total,
        "order_total": np.bincount(order_pos, weights=total, minlength=n).astype(np.int64),
    }


def _group_rank(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by group: position within the group, and index of the group's first row."""
    n = group.size
    start = np.r_[True, group[1:] != group[:-1]] if n else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0)) if n else np.zeros(0, int)
    return np.arange(n) - first, first


def _choose_kinds(rng: np.random.Generator, cust: np.ndarray, fraud_rate: float) -> np.ndarray:
    """Fraud kind per order; orders must already be in chronological order (ids ascending).

    Device fraud only where the customer has an earlier order, never so often that the
    fraudster's device would become the customer's most frequent one; a share of device frauds
    are followed by the same fraudster on the customer's next order.
    """
    n = cust.size
    perm = np.argsort(cust, kind="stable")           # by customer, then chronological
    rank, first = _group_rank(cust[perm])
    eligible = rank >= 1
    share_dev = 1 / (2 + REPEAT_SHARE)     # so that device frauds, returns included, are ~half
    base = fraud_rate / (1 + share_dev * REPEAT_SHARE)
    u, v, w = rng.random(n), rng.random(n), rng.random(n)
    p_dev = min(1.0, share_dev / max(eligible.mean(), 1e-9)) if n else 0.0
    fraud = u < base
    kind_s = np.where(fraud, np.where(eligible & (v < p_dev), DEVICE, LOCATION), LEGIT)
    # the fraudster comes back for the customer's next order
    nxt = np.flatnonzero((kind_s[:-1] == DEVICE) & (w[:-1] < REPEAT_SHARE)
                         & (first[1:] == first[:-1]) & (kind_s[1:] == LEGIT))
    kind_s[nxt + 1] = DEVICE
    # keep the habitual device the most frequent one: drop device frauds that would overtake it
    while True:
        is_dev = (kind_s == DEVICE).astype(np.int64)
        c = np.cumsum(is_dev)
        dev_upto = c - (c[first] - is_dev[first])       # device frauds up to and including row
        habitual_before = rank - (dev_upto - is_dev)
        # after this order the fraudster's device may at most tie the habitual one (ties keep
        # the device that reached the count first: the habitual one)
        bad = (kind_s == DEVICE) & (~eligible | (dev_upto > habitual_before))
        if not bad.any():
            break
        kind_s[bad] = LEGIT
    kind = np.empty(n, dtype=np.int64)
    kind[perm] = kind_s
    return kind


def generate_history(customers: pd.DataFrame, produtos: pd.DataFrame, orders: int, *, seed: int,
                     now: datetime, fraud_rate: float = 0.01, max_days: int = 180,
                     first_id: int = 1) -> dict[str, pd.DataFrame]:
    """Historical orders for the given customers and products (pure: no database).

    ``customers``: id, sexo, dt_nasc, uf, cidade, geohash (one row per customer, any order — they
    are sorted by id here). ``produtos``: id, categoria, cents. Orders are dated 1..max_days days
    before ``now`` (whole seconds) and numbered from ``first_id`` in date order. Returns the
    DataFrames pedidos, itens_pedidos, auditoria_pedidos and fraudes_confirmadas, with money in
    integer cents (columns ``*_cents``).
    """
    validate(count=orders, fraud_rate=fraud_rate, max_days=max_days)
    if customers.empty:
        raise ValueError("there are no customers yet: create some first "
                         "(`jornada generate customers --count N` or load_customers)")
    if produtos.empty:
        raise ValueError("there are no products: run `jornada db init`")
    now = _naive_utc(now)
    cust_df = customers.sort_values("id", kind="stable").reset_index(drop=True)
    ids = cust_df["id"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng([seed, _TAG_HISTORY])

    # who and when
    w = activity_weight(ids)
    ci = rng.choice(ids.size, size=orders, p=w / w.sum())
    now_s = np.datetime64(now.replace(microsecond=0), "s")
    back = rng.integers(86400, max_days * 86400 + 1, size=orders)
    dt = now_s - back.astype("timedelta64[s]")
    chrono = np.lexsort((np.arange(orders), dt))       # ids follow the sale date
    ci, dt = ci[chrono], dt[chrono]
    order_id = first_id + np.arange(orders, dtype=np.int64)

    kind = _choose_kinds(rng, ci, fraud_rate)
    cust_id = ids[ci]
    built = _build_orders(rng, _customer_arrays(cust_df), ci, dt, kind, produtos,
                          _product_pools(produtos))

    dt_us = dt.astype("datetime64[us]")
    pedidos = pd.DataFrame({"id": order_id, "id_pessoa": cust_id, "dt_venda": dt_us,
                            "valor_total_cents": built["order_total"]})
    io = built["item_order"]
    by = np.lexsort((built["item_produto"], io))  # by order, then product (stable, like pandas)
    io = io[by]
    itens = pd.DataFrame({"id_pedido": order_id[io], "id_produto": built["item_produto"][by],
                          "qtde": built["item_qtde"][by],
                          "valor_unit_cents": built["item_unit"][by],
                          "valor_total_cents": built["item_total"][by], "dt_venda": dt_us[io]})
    auditoria = pd.DataFrame({"id_pedido": order_id, "dispositivo": built["dispositivo"],
                              "geohash": built["geohash"], "telefone": built["telefone"],
                              "dt_venda": dt_us})
    fr = np.flatnonzero(kind != LEGIT)
    delay = rng.integers(2 * 86400, 40 * 86400, size=fr.size).astype("timedelta64[s]")
    confirmed = np.minimum(dt[fr] + delay, now_s).astype("datetime64[us]")
    fraudes = pd.DataFrame({"id_pedido": order_id[fr],
                            "tipo_fraude": np.array([TIPO_FRAUDE[k] for k in kind[fr]],
                                                    dtype=object),
                            "confirmada_em": confirmed})
    return {"pedidos": pedidos, "itens_pedidos": itens, "auditoria_pedidos": auditoria,
            "fraudes_confirmadas": fraudes}


# ---------------------------------------------------------------------------------------------
# Database helpers
# ---------------------------------------------------------------------------------------------

def _read_customers(conn) -> pd.DataFrame:
    """Existing customers with their home, ordered by id (no address → São Paulo centre)."""
    from . import geo

    rows = conn.execute(
        "select p.id, p.sexo, p.dt_nasc, e.uf, e.cidade, e.geohash"
        " from pessoas p left join enderecos e on e.id_pessoa = p.id order by p.id").fetchall()
    df = pd.DataFrame(rows, columns=["id", "sexo", "dt_nasc", "uf", "cidade", "geohash"])
    if not df.empty and df["geohash"].isna().any():
        sp = catalog.HOME_CITIES[0]
        miss = df["geohash"].isna()
        df.loc[miss, "uf"] = sp.uf
        df.loc[miss, "cidade"] = sp.nome
        df.loc[miss, "geohash"] = geo.encode(sp.lat, sp.lon, GEOHASH_PRECISION)
    df["id"] = df["id"].astype(np.int64)
    df["uf"] = df["uf"].astype(object).str.strip()
    return df


def _read_products(conn) -> pd.DataFrame:
    rows = conn.execute(
        "select p.id, c.descricao, p.valor_unit from produtos p"
        " join categorias c on c.id = p.id_categoria order by p.id").fetchall()
    return pd.DataFrame({"id": np.array([r[0] for r in rows], dtype=np.int64),
                         "categoria": [r[1] for r in rows],
                         "cents": np.array([int(r[2] * 100) for r in rows], dtype=np.int64)})


def _money(cents) -> np.ndarray:
    """Integer cents → exact decimal text for COPY (b'1234.50'), as a numpy bytes array.

    Same text as ``f"{c // 100}.{c % 100:02d}"`` (floor division), built with whole-array ops.
    """
    c = np.asarray(cents, dtype=np.int64).ravel()
    units = _digits(c // 100)
    n, w = c.size, units.itemsize
    out = np.zeros((n, w + 3), dtype=np.uint8)
    out[:, :w] = units.view(np.uint8).reshape(n, w)
    end = np.count_nonzero(out[:, :w], axis=1)  # length of each units text (NUL-padded)
    rows = np.arange(n)
    out[rows, end] = ord(".")
    out[rows[:, None], end[:, None] + (1, 2)] = _TWO_DIGITS[c % 100]
    return out.view(f"S{w + 3}").ravel()


def _ts(values) -> np.ndarray:
    """datetime64 values → ISO text Postgres parses (microseconds kept)."""
    return np.datetime_as_string(np.asarray(values).astype("datetime64[us]"), unit="us")


# -- vectorised COPY text ----------------------------------------------------------------------
# The history is written as CSV text built with whole-array numpy ops: every value becomes a row
# of bytes in a NUL-padded matrix, the matrices of a row's columns are laid side by side with the
# commas and the newline, and dropping every NUL leaves exactly the text DataFrame.to_csv wrote
# before (tests/test_generators_unit.py compares it with golden hashes and with to_csv).

_POW10 = 10 ** np.arange(19, dtype=np.int64)
_TWO_DIGITS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)
_SMALL_INTS = np.array([str(i).encode() for i in range(10_000)], dtype="S4")
_CSV_SPECIAL = np.zeros(256, dtype=bool)  # bytes that make csv (QUOTE_MINIMAL) quote a field
_CSV_SPECIAL[[ord(ch) for ch in ',"\n']] = True  # (not \r: csv leaves it bare)
# first and last instants whose ISO text is exactly 26 bytes (years 1000..9999), in µs
_TS_MIN_US = int(np.datetime64("1000-01-01T00:00:00", "us").astype(np.int64))
_TS_END_US = int(np.datetime64("10000-01-01T00:00:00", "us").astype(np.int64))


def _digits(values) -> np.ndarray:
    """Integers → their decimal text, as ``str(int)`` writes it, in a numpy bytes array."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if v.size == 0:
        return np.zeros(0, dtype="S1")
    lo, hi = int(v.min()), int(v.max())
    if 0 <= lo and hi < _SMALL_INTS.size:  # quantities, product ids: one table lookup
        return _SMALL_INTS[v]
    if lo == np.iinfo(np.int64).min:  # its absolute value doesn't fit in int64
        return np.array([str(x).encode() for x in v.tolist()], dtype="S")
    neg = v < 0
    a = np.abs(v)
    n_digits = np.maximum(np.searchsorted(_POW10, a, side="right"), 1)
    length = n_digits + neg
    width = int(length.max())
    exp = (length - 1)[:, None] - np.arange(width)  # power of ten of the digit in each column
    out = ((a[:, None] // _POW10[np.clip(exp, 0, 18)]) % 10 + 48).astype(np.uint8)
    out[exp < 0] = 0  # padding after the last digit
    out[neg, 0] = ord("-")
    return out.view(f"S{width}").ravel()


def _ts_bytes(values) -> np.ndarray:
    """datetime64 values → the same text as :func:`_ts`, as a numpy bytes array (S26)."""
    us = np.asarray(values).astype("datetime64[us]").view(np.int64).ravel()
    n = us.size
    if n == 0 or int(us.min()) < _TS_MIN_US or int(us.max()) >= _TS_END_US:  # NaT, odd years
        return _ts(us.view("datetime64[us]")).astype("S")
    days, tod = np.divmod(us, 86_400_000_000)
    # civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted)
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    secs, micro = np.divmod(tod, 1_000_000)
    out = np.empty((n, 26), dtype=np.uint8)
    out[:, [4, 7]] = ord("-")
    out[:, 10] = ord("T")
    out[:, [13, 16]] = ord(":")
    out[:, 19] = ord(".")
    for col, two in ((0, year // 100), (2, year % 100), (5, month), (8, day),
                     (11, secs // 3600), (14, secs // 60 % 60), (17, secs % 60),
                     (20, micro // 10_000), (22, micro // 100 % 100), (24, micro % 100)):
        out[:, col:col + 2] = _TWO_DIGITS[two]
    return out.view("S26").ravel()


def _text_bytes(values: np.ndarray) -> np.ndarray:
    """str values → UTF-8 bytes array, each quoted the way csv (QUOTE_MINIMAL) would."""
    values = np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) not in ("string", "empty"):
        raise TypeError("text columns for COPY must hold str values only")
    try:
        out = values.astype("S")  # ASCII, the usual case
    except UnicodeEncodeError:
        out = np.array([s.encode() for s in values.tolist()], dtype="S")
    if out.size == 0:
        return out
    if "\0" in "".join(values.tolist()):  # NUL is our padding (and Postgres rejects it)
        raise ValueError("text for COPY must not contain NUL characters")
    raw = out.view(np.uint8).reshape(out.size, -1)
    special = _CSV_SPECIAL[raw].any(axis=1)
    if special.any():
        out = out.astype(object)
        out[special] = [b'"' + s.replace(b'"', b'""') + b'"' for s in out[special]]
        out = out.astype("S")
    return out


def _csv_text(columns: dict[str, np.ndarray]) -> bytes:
    """CSV rows (what ``DataFrame.to_csv(header=False, index=False)`` writes) from columns of
    integers, str objects or pre-formatted bytes (``_ts_bytes``, ``_money``; NUL = padding)."""
    parts = []
    n = None
    for name, values in columns.items():
        v = np.asarray(values)
        if v.dtype.kind in "iu" and v.dtype != np.uint64:
            v = _digits(v)
        elif v.dtype.kind in "OU":
            v = _text_bytes(v)
        elif v.dtype.kind != "S":
            raise TypeError(f"column {name!r}: can't write {v.dtype} values to COPY")
        if n is None:
            n = v.size
        elif v.size != n:
            raise ValueError(f"column {name!r} has {v.size} values, expected {n}")
        parts += [v.view(np.uint8).reshape(n, v.itemsize), np.full((n, 1), ord(","), np.uint8)]
    if not n:
        return b""
    if len(columns) == 1:  # csv quotes a lone empty field, so that the row isn't blank
        only = parts[0]
        if (only == 0).all(axis=1).any():
            empty = (only == 0).all(axis=1)
            only = np.concatenate([only, np.zeros((n, 1), np.uint8)], axis=1)
            only[empty, :2] = ord('"')
            parts[0] = only
    parts[-1] = np.full((n, 1), ord("\n"), np.uint8)
    rows = np.concatenate(parts, axis=1).ravel()
    return rows[rows != 0].tobytes()


def _copy_df(cur, table: str, df: pd.DataFrame, fmt: Callable | None = None,
             on_rows: Callable[[int], None] | None = None, piece: int = 20_000) -> None:
    """COPY a DataFrame into ``table`` as one COPY statement, streamed in pieces.

    ``fmt`` turns a slice of ``df`` into text-ready columns named like the table's (default: the
    slice as is): a DataFrame, written with ``to_csv``, or a dict of column → numpy array, written
    by the vectorised :func:`_csv_text` (the history path). Each piece is formatted while the
    server is still ingesting the previous one, so client formatting and server work overlap.
    """
    if df.empty:
        return
    fmt = fmt or (lambda d: d)
    cols = ", ".join(fmt(df.iloc[:1]).keys())
    with cur.copy(f"copy {table} ({cols}) from stdin (format csv)") as copy:
        for start in range(0, len(df), piece):
            part = df.iloc[start:start + piece]
            text = fmt(part)
            copy.write(text.to_csv(header=False, index=False) if isinstance(text, pd.DataFrame)
                       else _csv_text(text))
            if on_rows:
                on_rows(len(part))


def _progress(enabled: bool, description: str, total: int):
    """A rich progress bar (stderr, transient) or a do-nothing stand-in."""
    if not enabled:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)
    return _RichProgress(prog, description, total)


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self, n: int = 1) -> None:
        pass


class _RichProgress(_NoProgress):
    def __init__(self, prog, description, total):
        self.prog, self.description, self.total = prog, description, total

    def __enter__(self):
        self.prog.__enter__()
        self.task = self.prog.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc):
        return self.prog.__exit__(*exc)

    def advance(self, n: int = 1) -> None:
        self.prog.advance(self.task, n)


def _stats(t0: float, rows: int, **counts) -> dict:
    seconds = time.perf_counter() - t0
    orders = counts.get("orders", counts.get("customers", 0))
    out = dict(counts)
    out["seconds"] = round(seconds, 3)
    out["orders_per_s" if "orders" in counts else "customers_per_s"] = \
        round(orders / seconds, 1) if seconds > 0 else None
    out["rows_per_s"] = round(rows / seconds, 1) if seconds > 0 else None
    return out


# ---------------------------------------------------------------------------------------------
# Customers → database
# ---------------------------------------------------------------------------------------------

def load_customers(count: int, *, seed: int, now: datetime, progress: bool = False) -> dict:
    """Create ``count`` new customers and their homes (pessoas + enderecos) in one transaction.

    Ids are CPF numbers with valid check digits drawn from ``seed``; ids already in the table are
    skipped deterministically. ``pessoas`` is locked (against concurrent inserts, reads go on)
    while ids are chosen and copied, so a running stream can't take the same id meanwhile.
    """
    from .db import connect

    validate(count=count)
    now = _naive_utc(now)
    t0 = time.perf_counter()
    with connect("oltp") as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("lock table pessoas in share row exclusive mode")
        existing = np.array([r[0] for r in cur.execute("select id from pessoas")], dtype=np.int64)
        with _progress(progress and count >= 5_000, "customers", count) as bar:
            df = generate_customers(count, seed=seed, now=now, exclude_ids=existing)
            created = _ts(df["created_at"].to_numpy())
            _copy_df(cur, "pessoas", pd.DataFrame({
                "id": df["id"], "nome": df["nome"], "sexo": df["sexo"],
                "dt_nasc": [d.isoformat() for d in df["dt_nasc"]],
                "created_at": created, "updated_at": created}))
            _copy_df(cur, "enderecos", pd.DataFrame({
                "id_pessoa": df["id"], "uf": df["uf"], "cidade": df["cidade"],
                "geohash": df["geohash"], "created_at": created, "updated_at": created}))
            bar.advance(count)
    return _stats(t0, 2 * count, customers=count, by_state=df["uf"].value_counts().to_dict())


# ---------------------------------------------------------------------------------------------
# History → database (bulk)
# ---------------------------------------------------------------------------------------------

def _reserve_order_ids(conn, n: int) -> int:
    """Reserve ``n`` consecutive order ids; returns the first.

    In its own short transaction: lock pedidos against inserts (a stream waits a moment), take
    the next id after both the sequence and the largest id in the table, move the sequence past
    the block, commit. Inserts that use the sequence afterwards get ids above the block.
    """
    with conn.transaction():
        conn.execute("lock table pedidos in share row exclusive mode")
        seq = conn.execute("select pg_get_serial_sequence('pedidos', 'id')").fetchone()[0]
        last, called = conn.execute(f"select last_value, is_called from {seq}").fetchone()
        top = conn.execute("select coalesce(max(id), 0) from pedidos").fetchone()[0]
        first = max(top, last if called else last - 1) + 1
        conn.execute("select setval(%s, %s, true)", (seq, first + n - 1))
    return first


def load_history(orders: int, *, seed: int, now: datetime, fraud_rate: float = 0.01,
                 max_days: int = 180, progress: bool = True) -> dict:
    """Bulk-load ``orders`` past orders for the customers and products already in the database.

    Orders are dated 1..``max_days`` days before ``now``; ~``fraud_rate`` of them are frauds
    (about half ``localizacao``, half ``dispositivo``), labelled in ``fraudes_confirmadas``.
    Everything is generated in memory with numpy/pandas, then COPYed into pedidos,
    itens_pedidos, auditoria_pedidos and fraudes_confirmadas in ONE transaction: on any error
    nothing is written. Order ids are a block reserved up front (see ``_reserve_order_ids``);
    created_at/updated_at of every row are the sale time, so reruns are identical.
    """
    from .db import connect

    validate(count=orders, fraud_rate=fraud_rate, max_days=max_days)
    now = _naive_utc(now)
    t0 = time.perf_counter()
    with connect("oltp") as conn:
        customers = _read_customers(conn)
        produtos = _read_products(conn)
        conn.commit()
        data = generate_history(customers, produtos, orders, seed=seed, now=now,
                                fraud_rate=fraud_rate, max_days=max_days, first_id=0)
        first = _reserve_order_ids(conn, orders)
        total_rows = sum(len(df) for df in data.values())
        with _progress(progress, "history (rows)", total_rows) as bar, conn.transaction(), \
                conn.cursor() as cur:
            for table, df in data.items():
                _copy_df(cur, table, df, fmt=_HISTORY_FORMAT[table](first), on_rows=bar.advance)
    frauds = data["fraudes_confirmadas"]["tipo_fraude"].value_counts()
    n_items = len(data["itens_pedidos"])
    rows = orders * 2 + n_items + len(data["fraudes_confirmadas"])
    return _stats(t0, rows, orders=orders, items=n_items, first_id=first,
                  last_id=first + orders - 1,
                  frauds={t: int(frauds.get(t, 0)) for t in ("localizacao", "dispositivo")},
                  fraud_rate=round(len(data["fraudes_confirmadas"]) / orders, 4))


def _fmt_pedidos(first: int):
    def fmt(p: pd.DataFrame) -> dict:
        ts = _ts_bytes(p["dt_venda"].to_numpy())
        return {"id": p["id"].to_numpy() + first, "id_pessoa": p["id_pessoa"].to_numpy(),
                "dt_venda": ts, "valor_total": _money(p["valor_total_cents"].to_numpy()),
                "created_at": ts, "updated_at": ts}
    return fmt


def _fmt_itens(first: int):
    def fmt(i: pd.DataFrame) -> dict:
        ts = _ts_bytes(i["dt_venda"].to_numpy())
        return {"id_pedido": i["id_pedido"].to_numpy() + first,
                "id_produto": i["id_produto"].to_numpy(), "qtde": i["qtde"].to_numpy(),
                "valor_unit": _money(i["valor_unit_cents"].to_numpy()),
                "valor_total": _money(i["valor_total_cents"].to_numpy()),
                "created_at": ts, "updated_at": ts}
    return fmt


def _fmt_auditoria(first: int):
    def fmt(a: pd.DataFrame) -> dict:
        ts = _ts_bytes(a["dt_venda"].to_numpy())
        return {"id_pedido": a["id_pedido"].to_numpy() + first,
                "dispositivo": a["dispositivo"].to_numpy(), "geohash": a["geohash"].to_numpy(),
                "telefone": a["telefone"].to_numpy(), "created_at": ts, "updated_at": ts}
    return fmt


def _fmt_fraudes(first: int):
    def fmt(f: pd.DataFrame) -> dict:
        ts = _ts_bytes(f["confirmada_em"].to_numpy())
        return {"id_pedido": f["id_pedido"].to_numpy() + first,
                "tipo_fraude": f["tipo_fraude"].to_numpy(), "confirmada_em": ts,
                "created_at": ts, "updated_at": ts}
    return fmt


# How each generated frame becomes COPY text, given the first reserved order id (parents first).
_HISTORY_FORMAT = {"pedidos": _fmt_pedidos, "itens_pedidos": _fmt_itens,
                   "auditoria_pedidos": _fmt_auditoria, "fraudes_confirmadas": _fmt_fraudes}


# ---------------------------------------------------------------------------------------------
# The original's way, kept as a benchmark baseline
# ---------------------------------------------------------------------------------------------

def load_history_row_by_row(orders: int, *, seed: int, now: datetime, fraud_rate: float = 0.01,
                            max_days: int = 180) -> dict:
    """ANTI-PATTERN, kept only to measure against :func:`load_history`.

    This is how the original course generated orders: for every order, pick a random customer
    and random products with ``ORDER BY random()`` (a full sort of the table each time), one
    INSERT per row, a commit after the order and its items and another after the audit row (two
    commits per order — a crash in between leaves an order without its audit row). The original
    warned that 1,000 orders "may take up to 5 minutes". Same statistics as load_history.
    Not reproducible either (server-side random()), beyond the ``setseed`` we add.
    """
    from .db import connect

    validate(count=orders, fraud_rate=fraud_rate, max_days=max_days)
    now = _naive_utc(now)
    rng = np.random.default_rng([seed, _TAG_HISTORY, 1])
    t0 = time.perf_counter()
    n_items = 0
    frauds = {"localizacao": 0, "dispositivo": 0}
    with connect("oltp") as conn, conn.cursor() as cur:
        cur.execute("select setseed(%s)", ((seed % 1000) / 1000.0,))
        for _ in range(orders):
            cur.execute("select p.id, p.sexo, p.dt_nasc, e.uf, e.cidade, e.geohash from pessoas p"
                        " join enderecos e on e.id_pessoa = p.id order by random() limit 1")
            row = cur.fetchone()
            if row is None:
                raise ValueError("there are no customers yet: create some first")
            pid, sexo, nasc, uf, cidade, home = row
            dt = now.replace(microsecond=0) - timedelta(
                seconds=int(rng.integers(86400, max_days * 86400 + 1)))
            age = int(_age_at(np.array([nasc], dtype="datetime64[D]"),
                              np.array([dt], dtype="datetime64[s]"))[0])
            cats = catalog.PERFIS[_PROFILE_KEYS[int(_profile_codes(np.array([sexo]),
                                                                   np.array([age]))[0])]]
            cur.execute("select p.id, p.valor_unit from produtos p join categorias c"
                        " on c.id = p.id_categoria where c.descricao = any(%s)"
                        " order by random() limit %s", (cats, int(rng.integers(1, 6))))
            items = [(prod, price, int(rng.integers(1, 4))) for prod, price in cur.fetchall()]
            kind = LEGIT
            if rng.random() < fraud_rate:
                cur.execute("select count(*) from pedidos where id_pessoa = %s and dt_venda < %s",
                            (pid, dt))
                kind = DEVICE if rng.random() < 0.5 and cur.fetchone()[0] > 0 else LOCATION
            total = sum(price * q for _, price, q in items)
            cur.execute("insert into pedidos (id_pessoa, dt_venda, valor_total, created_at,"
                        " updated_at) values (%s, %s, %s, %s, %s) returning id",
                        (pid, dt, total, dt, dt))
            order_id = cur.fetchone()[0]
            for prod, price, q in items:
                cur.execute("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit,"
                            " valor_total, created_at, updated_at) values (%s, %s, %s, %s, %s,"
                            " %s, %s)", (order_id, prod, q, price, price * q, dt, dt))
            conn.commit()                                  # commit #1: order + items
            ids = np.array([pid], dtype=np.int64)
            uf = uf.strip()
            if kind == LOCATION:
                gh = _fraud_points(rng, 1)[0][0]
            else:
                from . import geo
                lat, lon = geo.decode(home)
                gh = _scatter(rng, [lat], [lon], ORDER_RADIUS_KM, [uf], [home])[0]
            device = (fraud_device(ids) if kind == DEVICE else habitual_device(ids))[0]
            phone = phone_of(ids, ddd_of([uf], [cidade]))[0]
            cur.execute("insert into auditoria_pedidos (id_pedido, dispositivo, geohash, telefone,"
                        " created_at, updated_at) values (%s, %s, %s, %s, %s, %s)",
                        (order_id, device, gh, phone, dt, dt))
            if kind != LEGIT:
                conf = dt + timedelta(days=7)
                cur.execute("insert into fraudes_confirmadas (id_pedido, tipo_fraude,"
                            " confirmada_em, created_at, updated_at) values (%s, %s, %s, %s, %s)",
                            (order_id, TIPO_FRAUDE[kind], conf, conf, conf))
                frauds[TIPO_FRAUDE[kind]] += 1
            conn.commit()                                  # commit #2: audit row (+ label)
            n_items += len(items)
    rows = orders * 2 + n_items + sum(frauds.values())
    return _stats(t0, rows, orders=orders, items=n_items, frauds=frauds,
                  fraud_rate=round(sum(frauds.values()) / orders, 4))


# ---------------------------------------------------------------------------------------------
# Stream: current-time orders, one transaction each
# ---------------------------------------------------------------------------------------------

STREAM_BATCH = 256   # orders decided together (vectorised), then inserted one transaction each

_SQL_PESSOA = ("insert into pessoas (id, nome, sexo, dt_nasc, created_at, updated_at)"
               " values (%s, %s, %s, %s, %s, %s)")
_SQL_ENDERECO = ("insert into enderecos (id_pessoa, uf, cidade, geohash, created_at, updated_at)"
                 " values (%s, %s, %s, %s, %s, %s)")
_SQL_PEDIDO = ("insert into pedidos (id_pessoa, dt_venda, valor_total, created_at, updated_at)"
               " values (%s, %s, %s, %s, %s) returning id")
_SQL_ITEM = ("insert into itens_pedidos (id_pedido, id_produto, qtde, valor_unit, valor_total,"
             " created_at, updated_at) values (%s, %s, %s, %s, %s, %s, %s)")
_SQL_AUDIT = ("insert into auditoria_pedidos (id_pedido, dispositivo, geohash, telefone,"
              " created_at, updated_at) values (%s, %s, %s, %s, %s, %s)")
_SQL_LABEL = ("insert into fraudes_confirmadas (id_pedido, tipo_fraude, confirmada_em,"
              " created_at, updated_at) values (%s, %s, %s, %s, %s)")


def _dec(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


class _StreamSource:
    """Decides stream orders in vectorised batches; keeps what it needs to know in memory."""

    def __init__(self, conn, *, seed: int, fraud_rate: float, new_customer_share: float):
        self.seed, self.fraud_rate, self.new_share = seed, fraud_rate, new_customer_share
        cust = _read_customers(conn)
        self.produtos = _read_products(conn)
        if self.produtos.empty:
            raise ValueError("there are no products: run `jornada db init`")
        self.pools = _product_pools(self.produtos)
        self.cust = _customer_arrays(cust)
        self.weight = activity_weight(self.cust["id"])
        self.known = set(self.cust["id"].tolist())
        # per customer id: [orders so far, device frauds so far] (labels may be read here: this
        # is the simulator, not a fraud rule)
        self.hist: dict[int, list[int]] = {
            int(pid): [int(n), int(d)] for pid, n, d in conn.execute(
                "select p.id_pessoa, count(*), count(*) filter (where f.tipo_fraude ="
                " 'dispositivo') from pedidos p left join fraudes_confirmadas f"
                " on f.id_pedido = p.id group by p.id_pessoa")}
        conn.commit()
        self.rng = np.random.default_rng([seed, _TAG_STREAM])
        from . import geo
        geo.state_of(-23.55, -46.63)          # build the state index now, not in the first order
        self.batch_no = 0
        self.position = 0                     # orders handed out so far
        self.queue: deque = deque()
        self.followups: deque = deque()       # (due position, customer row) of returning fraudsters

    def next_order(self, when: datetime) -> dict:
        if not self.queue:
            self._refill(when)
        self.position += 1
        return self.queue.popleft()

    def _refill(self, when: datetime) -> None:
        rng, B = self.rng, STREAM_BATCH
        n_old = self.cust["id"].size
        new = (rng.random(B) < self.new_share) if n_old else np.ones(B, dtype=bool)
        n_new = int(new.sum())
        picks = (rng.choice(n_old, size=B, p=self.weight / self.weight.sum()) if n_old
                 else np.zeros(B, dtype=np.int64))
        new_rows = None
        if n_new:
            new_rows = generate_customers(n_new, seed=self.seed, now=when, exclude_ids=self.known,
                                          created_at=when, stream=1 + self.batch_no)
            self.known.update(new_rows["id"].tolist())
            add = _customer_arrays(new_rows)
            self.cust = {k: np.concatenate([self.cust[k], add[k]]) for k in self.cust}
            self.weight = np.concatenate([self.weight, activity_weight(add["id"])])
        ci = picks.copy()
        ci[new] = n_old + np.arange(n_new)
        self.batch_no += 1

        # fraud kinds, order by order (each depends on the customer's history so far)
        share_dev = 1 / (2 + REPEAT_SHARE)
        base = self.fraud_rate / (1 + share_dev * REPEAT_SHARE)
        ids = self.cust["id"]
        elig = np.mean([self.hist.get(int(i), (0, 0))[0] > 0 for i in ids[ci]])
        p_dev = min(1.0, share_dev / max(elig, 1e-9))
        u, v, w = rng.random(B), rng.random(B), rng.random(B)
        gaps = rng.integers(1, 40, size=B)
        kind = np.zeros(B, dtype=np.int64)
        for j in range(B):
            pos = self.position + j
            forced = False
            if self.followups and self.followups[0][0] <= pos and not new[j]:
                ci[j] = self.followups.popleft()[1]
                forced = True
            h = self.hist.setdefault(int(ids[ci[j]]), [0, 0])
            if forced or u[j] < base:
                can_dev = h[0] >= 1 and h[1] + 1 <= h[0] - h[1]
                if (forced or v[j] < p_dev) and can_dev:
                    kind[j] = DEVICE
                    if not forced and w[j] < REPEAT_SHARE:
                        self.followups.append((pos + int(gaps[j]), ci[j]))
                elif not forced:
                    kind[j] = LOCATION
            h[0] += 1
            h[1] += int(kind[j] == DEVICE)

        dt = np.full(B, np.datetime64(when, "s"))
        built = _build_orders(rng, self.cust, ci, dt, kind, self.produtos, self.pools)
        starts = np.r_[0, np.cumsum(np.bincount(built["item_order"], minlength=B))]
        confirm_days = rng.integers(2, 30, size=B)
        for j in range(B):
            a, b = starts[j], starts[j + 1]
            c = ci[j]
            person = None
            if new[j]:
                r = new_rows.iloc[c - n_old]
                person = (int(r["id"]), r["nome"], r["sexo"], r["dt_nasc"], r["uf"], r["cidade"],
                          r["geohash"])
            self.queue.append({
                "id_pessoa": int(ids[c]), "new": person, "kind": int(kind[j]),
                "dispositivo": built["dispositivo"][j], "geohash": built["geohash"][j],
                "telefone": built["telefone"][j], "total": int(built["order_total"][j]),
                "items": list(zip(built["item_produto"][a:b].tolist(),
                                  built["item_qtde"][a:b].tolist(),
                                  built["item_unit"][a:b].tolist(),
                                  built["item_total"][a:b].tolist())),
                "confirm_days": int(confirm_days[j]),
            })


def _insert_order(cur, order: dict, dt: datetime) -> int:
    """One order with its items, audit row and (if fraud) label; caller holds the transaction."""
    if order["new"]:
        pid, nome, sexo, nasc, uf, cidade, gh = order["new"]
        cur.execute(_SQL_PESSOA, (pid, nome, sexo, nasc, dt, dt), prepare=True)
        cur.execute(_SQL_ENDERECO, (pid, uf, cidade, gh, dt, dt), prepare=True)
    cur.execute(_SQL_PEDIDO, (order["id_pessoa"], dt, _dec(order["total"]), dt, dt), prepare=True)
    order_id = cur.fetchone()[0]
    cur.executemany(_SQL_ITEM, [(order_id, p, q, _dec(u), _dec(t), dt, dt)
                                for p, q, u, t in order["items"]])
    cur.execute(_SQL_AUDIT, (order_id, order["dispositivo"], order["geohash"],
                             order["telefone"], dt, dt), prepare=True)
    if order["kind"] != LEGIT:
        conf = dt + timedelta(days=order["confirm_days"])
        cur.execute(_SQL_LABEL, (order_id, TIPO_FRAUDE[order["kind"]], conf, conf, conf),
                    prepare=True)
    return order_id


class _StopOnSigint:
    """While active (main thread only), Ctrl-C asks the stream to stop after the current order;
    a second Ctrl-C interrupts immediately."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except ValueError:          # not allowed here (embedded interpreter): skip
                self._previous = None
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def run_stream(*, rate: float | None = None, count: int | None = None,
               duration: float | None = None, seed: int = 0, fraud_rate: float = 0.05,
               new_customer_share: float = 0.1, progress: bool = True,
               clock: Callable[[], datetime] | None = None) -> dict:
    """Simulate the live shop: current-time orders, ONE transaction per order.

    Each transaction holds the order, its items, its audit row, the fraud label when it is a
    fraud, and — for ``new_customer_share`` of the orders — the brand-new customer and address.
    ``dt_venda`` is ``clock()`` (default: now, naive UTC), called once per order right before its
    transaction. Paced at ``rate`` orders/s if given (otherwise as fast as possible); stops after
    ``count`` orders and/or ``duration`` seconds, whichever comes first (at least one is
    required). Ctrl-C — or a KeyboardInterrupt raised by ``clock`` — stops cleanly: the order in
    flight is either fully committed or not written at all, and the statistics are returned.
    """
    from .db import connect

    validate(count=count, rate=rate, fraud_rate=fraud_rate, duration=duration,
             new_customer_share=new_customer_share)
    if count is None and duration is None:
        raise ValueError("say when to stop: give count (orders) and/or duration (seconds)")
    clock = clock or utcnow
    done = items = new_customers = 0
    frauds = {"localizacao": 0, "dispositivo": 0}
    interrupted = False
    with connect("oltp") as conn:
        source = _StreamSource(conn, seed=seed, fraud_rate=fraud_rate,
                               new_customer_share=new_customer_share)
        t0 = time.perf_counter()
        deadline = None if duration is None else t0 + duration
        with _StopOnSigint() as stop, _progress(progress, "stream", count) as bar, \
                conn.cursor() as cur:
            try:
                while count is None or done < count:
                    if stop.requested:
                        interrupted = True
                        break
                    if rate is not None:
                        wait = t0 + done / rate - time.perf_counter()
                        if deadline is not None:
                            wait = min(wait, deadline - time.perf_counter())
                        if wait > 0:
                            time.sleep(wait)
                    if deadline is not None and time.perf_counter() >= deadline:
                        break
                    dt = _naive_utc(clock())
                    order = source.next_order(dt)
                    with conn.transaction():
                        _insert_order(cur, order, dt)
                    done += 1
                    items += len(order["items"])
                    new_customers += order["new"] is not None
                    if order["kind"] != LEGIT:
                        frauds[TIPO_FRAUDE[order["kind"]]] += 1
                    bar.advance()
            except KeyboardInterrupt:
                interrupted = True
    rows = done * 2 + items + 2 * new_customers + sum(frauds.values())
    out = _stats(t0, rows, orders=done, items=items, new_customers=new_customers, frauds=frauds,
                 fraud_rate=round(sum(frauds.values()) / done, 4) if done else 0.0)
    out["interrupted"] = interrupted
    return out
