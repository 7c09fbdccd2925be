"""Past orders for existing customers: generated as arrays, loaded with COPY in one transaction."""

from __future__ import annotations

from contextlib import contextmanager

import time
from datetime import datetime
from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import catalog
from .params import DEFAULT_TRUTH, GroundTruth, _naive_utc, validate
from .traits import GEOHASH_PRECISION, _fraud_points, _scatter, activity_weight, current_device, ddd_of, fraud_device, phone_of
from .customers import _TAG_HISTORY, generate_customers


# ---------------------------------------------------------------------------------------------
# Orders (pure)
# ---------------------------------------------------------------------------------------------

LEGIT, LOCATION, DEVICE, TAKEOVER = 0, 1, 2, 3
TIPO_FRAUDE = {LOCATION: "localizacao", DEVICE: "dispositivo", TAKEOVER: "conta_invadida"}
ORDER_RADIUS_KM = 3.0          # legit orders come from within this distance of home
REPEAT_SHARE = 0.35            # device frauds whose fraudster returns for the next order
EXPENSIVE_QUANTILE = 0.8       # an account takeover buys from the dearest 20 % of the catalogue
TAKEOVER_ITEMS = (2, 5)        # … 2..5 of them (a legit basket has 1..5 items of its profile)
# Orders per hour of the day, Brasília time (UTC-3; dt_venda is UTC): the shop sleeps at night.
_HOUR_W = np.array([0.6, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.8, 1.2, 1.5, 1.6, 1.7,
                    1.8, 1.6, 1.5, 1.5, 1.6, 1.8, 2.0, 2.2, 2.2, 2.0, 1.6, 1.1])
_HOUR_P = _HOUR_W / _HOUR_W.sum()
TAKEOVER_HOURS = (1, 5)        # history takeovers happen 01:00–04:59 Brasília, when few shop
BRT_OFFSET_S = 3 * 3600        # UTC = Brasília + 3 h
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
    # the last pool, after the profiles: what an account takeover buys (any profile, the dearest)
    dear = np.flatnonzero(cents >= np.quantile(cents, EXPENSIVE_QUANTILE))
    if dear.size < 5:
        dear = np.argsort(-cents, kind="stable")[:max(5, dear.size)]
    pools.append((dear, np.full(dear.size, 1.0 / dear.size)))
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
    from .. import geo

    home = customers["geohash"].to_numpy(dtype=object)
    lat, lon = geo.decode_many(home) if len(home) else (np.zeros(0), np.zeros(0))
    ids = customers["id"].to_numpy(dtype=np.int64)
    ddd = ddd_of(customers["uf"], customers["cidade"])
    return {"id": ids, "sexo": customers["sexo"].to_numpy(dtype=object),
            "dt_nasc": pd.to_datetime(customers["dt_nasc"]).to_numpy().astype("datetime64[D]"),
            "uf": customers["uf"].to_numpy(dtype=object), "home": home, "lat": lat, "lon": lon,
            "telefone": phone_of(ids, ddd)}


def _build_orders(rng: np.random.Generator, cust: dict[str, np.ndarray], ci: np.ndarray,
                  dt: np.ndarray, kind: np.ndarray, produtos: pd.DataFrame, pools,
                  rank: np.ndarray | None = None, truth: GroundTruth = DEFAULT_TRUTH) -> dict:
    """Everything about a set of orders once customer (row ``ci`` of ``cust``), date and fraud
    kind are decided.

    ``rank``: how many orders each customer placed before this one (decides whether a device
    changer already uses the new phone; None = 0). ``truth``: the travel and device-change shares.
    Returns arrays: dispositivo, geohash, telefone, travel (honest order from another state), and
    the items (order position, product id, qtde, unit and total cents) plus each order's total in
    cents.
    """
    n = ci.size
    cust_id = cust["id"][ci]
    rank = np.zeros(n, dtype=np.int64) if rank is None else np.asarray(rank, dtype=np.int64)
    # where: near home, except location fraud (a fraud place) and honest travellers (another
    # state: the same cities, minus abroad)
    travel = (kind == LEGIT) & (rng.random(n) < truth.travel)
    geohash = np.empty(n, dtype=object)
    near = np.flatnonzero((kind != LOCATION) & ~travel)
    if near.size:
        c = ci[near]
        geohash[near] = _scatter(rng, cust["lat"][c], cust["lon"][c], ORDER_RADIUS_KM,
                                 cust["uf"][c], cust["home"][c])
    far = np.flatnonzero(kind == LOCATION)
    if far.size:
        geohash[far] = _fraud_points(rng, far.size)[0]
    away = np.flatnonzero(travel)
    if away.size:
        geohash[away] = _fraud_points(rng, away.size, domestic=True)[0]
    # which device: the customer's own (the new phone once a changer switched), except in
    # device fraud
    dispositivo = current_device(cust_id, rank, truth.device_change)
    dev = kind == DEVICE
    if dev.any():
        dispositivo[dev] = fraud_device(cust_id[dev])
    telefone = cust["telefone"][ci]

    # what: products by profile (sex × age band at the order date); an account takeover buys
    # 2..5 of the dearest products, whoever the customer is
    profile = _profile_codes(cust["sexo"][ci], _age_at(cust["dt_nasc"][ci], dt))
    n_items = rng.choice(5, size=n, p=_ITEMS_P) + 1
    tk = kind == TAKEOVER
    if tk.any():
        profile = np.where(tk, len(pools) - 1, profile)
        n_items = np.where(tk, np.clip(n_items + 1, *TAKEOVER_ITEMS), n_items)
    slots = _sample_items(rng, profile, n_items, pools)
    used = slots >= 0
    order_pos = np.repeat(np.arange(n), n_items)
    prod_row = slots[used]
    cents = produtos["cents"].to_numpy(dtype=np.int64)[prod_row]
    qtde = rng.choice(3, size=prod_row.size, p=_QTDE_P) + 1
    qtde = np.where(cents >= 100_000, 1, qtde)            # nobody buys three motorcycles
    total = qtde * cents
    return {
        "dispositivo": dispositivo, "geohash": geohash, "telefone": telefone, "travel": travel,
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


def _device_split(truth: GroundTruth) -> float:
    """Share of the first-drawn location/device frauds that are device frauds, so that after
    the returning fraudsters (REPEAT_SHARE more device frauds) device : location is as asked."""
    d, loc = truth.device, truth.location
    return d / (d + loc * (1 + REPEAT_SHARE)) if d + loc > 0 else 0.0


def _choose_kinds(rng: np.random.Generator, cust: np.ndarray, fraud_rate: float,
                  takeover: np.ndarray | None = None,
                  truth: GroundTruth = DEFAULT_TRUTH) -> tuple[np.ndarray, np.ndarray]:
    """Fraud kind per order, and each order's rank among its customer's orders (0 = first);
    orders must already be in chronological order (ids ascending).

    ``takeover``: the orders already chosen as account takeovers (None: none); the others are
    drawn as location or device frauds at the rate that keeps all frauds at ``fraud_rate``.
    Device fraud only where the customer has an earlier order, never so often that the
    fraudster's device would become the customer's most frequent one; a share of device frauds
    are followed by the same fraudster on the customer's next order.
    """
    n = cust.size
    takeover = np.zeros(n, dtype=bool) if takeover is None else np.asarray(takeover, dtype=bool)
    perm = np.argsort(cust, kind="stable")           # by customer, then chronological
    rank, first = _group_rank(cust[perm])
    tk_s = takeover[perm]
    eligible = rank >= 1
    share_dev = _device_split(truth)
    # the rate of location/device frauds among the orders that are not takeovers, so that all
    # frauds together come to fraud_rate
    p_tk = float(takeover.mean()) if n else 0.0
    rest = max(fraud_rate - p_tk, 0.0) / max(1.0 - p_tk, 1e-9)
    base = rest / (1 + share_dev * REPEAT_SHARE)
    u, v, w = rng.random(n), rng.random(n), rng.random(n)
    p_dev = min(1.0, share_dev / max(eligible.mean(), 1e-9)) if n else 0.0
    fraud = (u < base) & ~tk_s
    kind_s = np.where(fraud, np.where(eligible & (v < p_dev), DEVICE, LOCATION), LEGIT)
    kind_s[tk_s] = TAKEOVER
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
    rank_c = np.empty(n, dtype=np.int64)
    rank_c[perm] = rank
    return kind, rank_c


def _time_of_day(rng: np.random.Generator, dt: np.ndarray, night: np.ndarray, now_s,
                 max_days: int) -> np.ndarray:
    """Move each sale to an hour drawn from the shop's daily profile (``night``: an hour of
    TAKEOVER_HOURS instead), same Brasília day, kept inside the window 1..max_days days back."""
    n = dt.size
    hour = rng.choice(24, size=n, p=_HOUR_P)
    hour = np.where(night, rng.integers(*TAKEOVER_HOURS, size=n), hour)
    sec = (hour * 3600 + rng.integers(0, 3600, size=n)).astype("timedelta64[s]")
    offset = np.timedelta64(BRT_OFFSET_S, "s")
    local_day = (dt - offset).astype("datetime64[D]").astype("datetime64[s]")
    cand = local_day + sec + offset
    lo = now_s - np.timedelta64(max_days * 86400, "s")
    hi = now_s - np.timedelta64(86400, "s")
    day = np.timedelta64(86400, "s")
    cand = np.where(cand > hi, cand - day, np.where(cand < lo, cand + day, cand))
    return np.where((cand >= lo) & (cand <= hi), cand, dt)


def generate_history(customers: pd.DataFrame, produtos: pd.DataFrame, orders: int, *, seed: int,
                     now: datetime, fraud_rate: float = 0.01, max_days: int = 180,
                     first_id: int = 1,
                     truth: GroundTruth = DEFAULT_TRUTH) -> dict[str, pd.DataFrame]:
    """Historical orders for the given customers and products (pure: no database).

    ``customers``: id, sexo, dt_nasc, uf, cidade, geohash (one row per customer, any order — they
    are sorted by id here). ``produtos``: id, categoria, cents. Orders are dated 1..max_days days
    before ``now`` (whole seconds) and numbered from ``first_id`` in date order. Returns the
    DataFrames pedidos, itens_pedidos, auditoria_pedidos and fraudes_confirmadas, with money in
    integer cents (columns ``*_cents``). ``truth``: the fraud mix and the honest surprises
    (travellers, phone changes), see :class:`GroundTruth`.
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
    # account takeovers are chosen first: they happen at night, so they move in time
    takeover = rng.random(orders) < fraud_rate * truth.takeover
    dt = _time_of_day(rng, dt, takeover, now_s, max_days)
    chrono = np.lexsort((np.arange(orders), dt))       # ids follow the sale date
    ci, dt, takeover = ci[chrono], dt[chrono], takeover[chrono]
    order_id = first_id + np.arange(orders, dtype=np.int64)

    kind, rank = _choose_kinds(rng, ci, fraud_rate, takeover, truth)
    cust_id = ids[ci]
    built = _build_orders(rng, _customer_arrays(cust_df), ci, dt, kind, produtos,
                          _product_pools(produtos), rank, truth)

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
    from .. import geo

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


@contextmanager
def _progress(enabled: bool, description: str, total: int):
    """A rich progress bar on stderr (transient), disabled when short work should stay quiet.

    Yields an object with ``advance(n=1)``.
    """
    from types import SimpleNamespace

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True, disable=not enabled) as prog:
        task = prog.add_task(description, total=total)
        yield SimpleNamespace(advance=lambda n=1: prog.advance(task, n))


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
    from ..db import connect

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
                 max_days: int = 180, progress: bool = True,
                 truth: GroundTruth = DEFAULT_TRUTH) -> dict:
    """Bulk-load ``orders`` past orders for the customers and products already in the database.

    Orders are dated 1..``max_days`` days before ``now``; ~``fraud_rate`` of them are frauds
    (by default 40 % ``localizacao``, 40 % ``dispositivo``, 20 % ``conta_invadida``: see
    :class:`GroundTruth`), labelled in ``fraudes_confirmadas``.
    Everything is generated in memory with numpy/pandas, then COPYed into pedidos,
    itens_pedidos, auditoria_pedidos and fraudes_confirmadas in ONE transaction: on any error
    nothing is written. Order ids are a block reserved up front (see ``_reserve_order_ids``);
    created_at/updated_at of every row are the sale time, so reruns are identical.
    """
    from ..db import connect

    validate(count=orders, fraud_rate=fraud_rate, max_days=max_days)
    now = _naive_utc(now)
    t0 = time.perf_counter()
    with connect("oltp") as conn:
        customers = _read_customers(conn)
        produtos = _read_products(conn)
        conn.commit()
        data = generate_history(customers, produtos, orders, seed=seed, now=now,
                                fraud_rate=fraud_rate, max_days=max_days, first_id=0,
                                truth=truth)
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
                  frauds={t: int(frauds.get(t, 0)) for t in TIPO_FRAUDE.values()},
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
