"""New customers with a home address, deterministic from a seed."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .. import catalog
from .params import _naive_utc
from .traits import GEOHASH_PRECISION, _mix64, _scatter, cpf_from_base


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
    from .. import geo

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
