"""Checks of lesson 02 (generating data). Each task is judged on planted, known cases chosen to
catch the classic mistakes, so the verdict never depends on what the generators happened to draw.

- task_fraud_rate_by_type: the learner's ``fraud_rate_by_type(conn)`` — share of ALL orders that
  are confirmed frauds, per fraud type (planted rows inside a transaction that is rolled back).
- task_location_rule: ``is_outside_allowed_states(geohash)`` — the location rule by
  point-in-polygon (Osasco, Pampulha, Barra da Tijuca legit; Vitória, Cuiabá, the Pacific fraud).
- task_device_rule: ``device_changed(orders)`` — the device rule against the customer's habitual
  device among earlier orders (first order, the legit order after a fraud, a returning fraudster).
- task_fingerprint: ``data_fingerprint(seed, now)`` — generating twice gives the same data.

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from ..db import connect
from ..fraud import FRAUD_TYPES
from . import TaskFailed, call, expect, passed

# Tasks that passed in this kernel (the solution notebook records them).
RESULTS: dict[str, dict] = {}

# What `jornada check 02` does to data (jornada.exercises.grade shows it; solutions/README.md):
# CHECK_SCRATCH lists the databases the run gets a scratch copy of (jornada.scratch).
CHECK_SCRATCH: tuple[str, ...] = ("oltp",)
CHECK_DATA = (
    "`jornada check 02` runs your notebook in the scratch database <OLTP_DB>_check (dropped and "
    "re-created for this run): the setup cell generates a small shop there; task 1 plants rows in "
    "a transaction that is rolled back. Your own OLTP database is not touched")

PLANT_AT = datetime(2026, 1, 31, 12, 0, 0)
TYPES = FRAUD_TYPES   # localizacao, dispositivo, conta_invadida (the takeovers the rules miss)
PLANTED_ORDERS = 40


# ---- task 1: fraud rate by type ------------------------------------------------------------
@contextmanager
def _snapshot():
    """A REPEATABLE READ transaction (one consistent snapshot), always rolled back."""
    conn = connect("oltp")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _free_customer(conn) -> int:
    from ..generators import cpf_from_base

    base = 900_000_000
    while True:
        base += 1
        pid = int(cpf_from_base(base))
        if not conn.execute("select 1 from pessoas where id = %s", (pid,)).fetchone():
            return pid


def _plant_orders(conn, n_orders: int, frauds: dict[str, int]) -> list[int]:
    """n_orders orders of one new customer; the first ones labelled as frauds per ``frauds``."""
    pid = _free_customer(conn)
    conn.execute("insert into pessoas (id, nome, sexo, dt_nasc) values (%s, 'Cliente Teste 02', 'F',"
                 " date '1990-01-01')", (pid,))
    ids = [conn.execute("insert into pedidos (id_pessoa, dt_venda, valor_total) values (%s, %s, 10)"
                        " returning id", (pid, PLANT_AT + timedelta(minutes=i))).fetchone()[0]
           for i in range(n_orders)]
    k = 0
    for tipo, n in frauds.items():
        for _ in range(n):
            conn.execute("insert into fraudes_confirmadas (id_pedido, tipo_fraude, confirmada_em)"
                         " values (%s, %s, %s)", (ids[k], tipo, PLANT_AT + timedelta(days=7)))
            k += 1
    return ids


def _as_rates(got, fn_name: str) -> dict[str, float]:
    if isinstance(got, pd.DataFrame):
        cols = list(got.columns)
        expect(len(cols) == 2 or "tipo_fraude" in cols,
               f"{fn_name}() returned a DataFrame with columns {cols}: return a dict "
               "{tipo_fraude: rate} (or a Series indexed by tipo_fraude)")
        key = "tipo_fraude" if "tipo_fraude" in cols else cols[0]
        val = [c for c in cols if c != key][0]
        got = dict(zip(got[key], got[val]))
    elif isinstance(got, pd.Series):
        got = got.to_dict()
    expect(isinstance(got, dict),
           f"{fn_name}() must return a dict {{tipo_fraude: rate}}, got {type(got).__name__}")
    out = {}
    for k, v in got.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise TaskFailed(f"the rate of {k!r} is {v!r}: rates must be numbers") from None
    unknown = sorted(set(out) - set(TYPES))
    expect(not unknown, f"unexpected keys {unknown}: the keys are the values of "
                        f"fraudes_confirmadas.tipo_fraude ({', '.join(TYPES)})")
    return out


def task_fraud_rate_by_type(fn) -> None:
    """fn(conn) -> {tipo_fraude: share of ALL orders that are confirmed frauds of that type}."""
    with _snapshot() as conn:
        _plant_orders(conn, PLANTED_ORDERS, {"localizacao": 1, "dispositivo": 3, "conta_invadida": 2})
        total = conn.execute("select count(*) from pedidos").fetchone()[0]
        by_type = dict(conn.execute("select tipo_fraude, count(*) from fraudes_confirmadas"
                                    " group by tipo_fraude").fetchall())
        try:
            with conn.transaction():  # a savepoint: a broken query must not lose the planted rows
                got = call(fn, conn)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TaskFailed(f"your SQL does not run: {type(exc).__name__}: {first}") from None
    want = {t: by_type.get(t, 0) / total for t in TYPES}
    rates = _as_rates(got, "fraud_rate_by_type")
    g = {t: rates.get(t, 0.0) for t in TYPES}
    labelled = sum(by_type.values())
    if abs(sum(g.values()) - 1.0) < 1e-6 and labelled < total:
        raise TaskFailed(
            "your rates add up to 100%: you divided by the labelled orders only "
            f"({labelled} rows of fraudes_confirmadas). Did you divide by ALL orders "
            f"(select count(*) from pedidos → {total}), not only the labelled ones? The fraud rate "
            "is frauds / every order the shop received")
    expect(not all(v == 0 for v in g.values()),
           "every rate came back 0: integer division? In SQL count(*) / count(*) is an integer — "
           "cast one side (count(*)::numeric) or divide in Python")
    if all(math.isclose(g[t], 100 * want[t], rel_tol=1e-6) for t in TYPES if want[t]):
        raise TaskFailed("your numbers are percentages (×100): return shares — 0.01 means 1%")
    for t in TYPES:
        expect(math.isclose(g[t], want[t], rel_tol=1e-9, abs_tol=1e-12),
               f"{t}: expected {by_type.get(t, 0)} frauds / {total} orders = {want[t]:.6f}, "
               f"got {g[t]:.6f} — count fraudes_confirmadas rows of that tipo_fraude and divide by "
               "count(*) of pedidos")
    RESULTS["fraud_rate_by_type"] = {"orders": total, "rates": {t: round(want[t], 6) for t in TYPES}}
    passed("fraud_rate_by_type", f"right on your {total - PLANTED_ORDERS:,} orders plus {PLANTED_ORDERS} "
                                 "planted ones (rolled back)")


# ---- task 2: the location rule -------------------------------------------------------------
# (name, lat, lon, expected "outside SP/MG/RJ")
PLACES = [
    ("São Paulo (Sé)", -23.5505, -46.6333, False),
    ("Osasco (SP)", -23.5329, -46.7917, False),
    ("Pampulha, Belo Horizonte (MG)", -19.8512, -43.9713, False),
    ("Barra da Tijuca, Rio (RJ)", -23.0004, -43.3659, False),
    ("Uberlândia (MG)", -18.9186, -48.2772, False),
    ("Campos dos Goytacazes (RJ)", -21.7545, -41.3244, False),
    ("Vitória (ES)", -20.2976, -40.3300, True),
    ("Cuiabá (MT)", -15.6014, -56.0979, True),
    ("Curitiba (PR)", -25.4284, -49.2733, True),
    ("Pacific off Peru", -14.1504, -77.1680, True),
    ("Buenos Aires (Argentina)", -34.6037, -58.3816, True),
]
# The original's legit cells: a rule built on them misses these legit places.
ORIGINAL_CELLS = ("6gyf", "6gyc", "7h2y", "7h2z", "7h2w", "75cm", "75cn")


def planted_places() -> pd.DataFrame:
    from .. import geo

    return pd.DataFrame([{"place": n, "geohash": geo.encode(la, lo, 7), "outside": out}
                         for n, la, lo, out in PLACES])


def task_location_rule(fn) -> None:
    """fn(geohash: str) -> bool, True when the point lies outside SP, MG and RJ."""
    cases = planted_places()
    got = []
    for gh in cases["geohash"]:
        r = call(fn, gh)
        expect(isinstance(r, (bool, np.bool_)),
               f"is_outside_allowed_states({gh!r}) returned {r!r} ({type(r).__name__}): return True "
               "or False")
        got.append(bool(r))
    cases["got"] = got
    wrong = cases[cases["got"] != cases["outside"]]
    if wrong.empty:
        RESULTS["location_rule"] = {"cases": len(cases)}
        passed("location_rule", f"{len(cases)} planted places right, incl. Osasco, Pampulha, "
                                "Barra da Tijuca")
        return
    false_alarm = wrong[~wrong["outside"]]["place"].tolist()
    missed = wrong[wrong["outside"]]["place"].tolist()
    if len(false_alarm) == int((~cases["outside"]).sum()):
        raise TaskFailed(
            "every legit place was flagged, even the centre of São Paulo: did you swap lat and lon? "
            "geo.decode(geohash) returns (lat, lon) and geo.state_of takes (lat, lon) in that order "
            "(or is the comparison the wrong way round? True means OUTSIDE SP, MG and RJ)")
    cells = [p for p in false_alarm
             if cases.loc[cases["place"] == p, "geohash"].iloc[0][:4] not in ORIGINAL_CELLS]
    if false_alarm and len(cells) == len(false_alarm):
        raise TaskFailed(
            f"legit places flagged as fraud: {', '.join(false_alarm)}. A prefix/cell list misses "
            "Osasco (6gyd…), Pampulha (7h2x…) and Barra da Tijuca (75cj…): the shop's customers live "
            "far beyond a few 4-character cells. Use the state polygon via geo.state_of(*geo.decode(gh))")
    if missed and all(p.endswith(")") and "(" in p and p.split("(")[-1][:2] in ("ES", "MT", "PR")
                      for p in missed):
        raise TaskFailed(
            f"frauds in other Brazilian states were missed: {', '.join(missed)}. The rule is "
            "'outside SP, MG and RJ', not 'outside Brazil' — geo.state_of returns the UF (e.g. 'ES'); "
            "flag every UF that is not SP, MG or RJ")
    if missed and all(p in ("Pacific off Peru", "Buenos Aires (Argentina)") for p in missed):
        raise TaskFailed(
            f"points abroad were not flagged: {', '.join(missed)}. geo.state_of returns None outside "
            "Brazil — None is not SP, MG or RJ, so it is outside the allowed states too")
    raise TaskFailed("wrong verdicts: "
                     + "; ".join(f"{r.place} ({r.geohash}) expected "
                                 f"{'outside' if r.outside else 'inside'}" for r in wrong.itertuples())
                     + " — decode the geohash to (lat, lon), ask geo.state_of for the UF and "
                       "compare with {'SP', 'MG', 'RJ'}")


# ---- task 3: the device rule ---------------------------------------------------------------
def planted_device_orders() -> tuple[pd.DataFrame, pd.Series]:
    """Small order histories (rows shuffled) and the expected flags, by the habitual-device rule."""
    t = datetime(2025, 10, 1, 10, 0, 0)
    rows = []   # (id_pedido, id_pessoa, day, device, expected)
    # A: habitual Moto; one fraud on an iPhone, then back to the Moto (legit!)
    for k, (dev, exp) in enumerate([("Moto G84", False), ("Moto G84", False), ("iPhone 15", True),
                                    ("Moto G84", False), ("Moto G84", False)]):
        rows.append((101 + k, 1, k, dev, exp))
    # B: a single order — no history, never flagged
    rows.append((201, 2, 3, "Galaxy A54", False))
    # C: the fraudster comes back with the same device; then the customer again
    for k, (dev, exp) in enumerate([("Redmi 12", False), ("Redmi 12", False), ("Redmi 12", False),
                                    ("Chrome / Windows 11", True), ("Chrome / Windows 11", True),
                                    ("Redmi 12", False)]):
        rows.append((301 + k, 3, 2 * k, dev, exp))
    # D: the customer really changed phones: the new one becomes habitual once it leads (order
    # 403 is a 1–1 tie between the two phones: either answer is accepted there)
    for k, (dev, exp) in enumerate([("iPhone 11", False), ("iPhone 15", True), ("iPhone 15", None),
                                    ("iPhone 15", False), ("iPhone 15", False)]):
        rows.append((401 + k, 4, k, dev, exp))
    df = pd.DataFrame(rows, columns=["id_pedido", "id_pessoa", "day", "dispositivo", "expected"])
    df["dt_venda"] = [t + timedelta(days=int(d), hours=int(i % 7)) for d, i in zip(df["day"], df["id_pedido"])]
    df = df.sample(frac=1.0, random_state=2).reset_index(drop=True)   # not in time order!
    df.index = df.index + 1000                                         # and not a 0..n index
    expected = df["expected"].copy()
    return df[["id_pedido", "id_pessoa", "dt_venda", "dispositivo"]], expected


def _align(result, orders: pd.DataFrame) -> pd.Series:
    expect(isinstance(result, (pd.Series, list, tuple)) or hasattr(result, "__array__"),
           f"device_changed() must return a boolean Series (one value per order), got "
           f"{type(result).__name__}")
    if isinstance(result, pd.Series):
        if result.index.equals(orders.index):
            s = result
        elif set(result.index) == set(orders["id_pedido"]):
            s = pd.Series(result.reindex(orders["id_pedido"]).to_numpy(), index=orders.index)
        elif set(result.index) == set(orders.index):
            s = result.reindex(orders.index)
        else:
            raise TaskFailed("the Series you returned is indexed neither like `orders` nor by "
                             "id_pedido: keep the input's index (e.g. build the flags on a sorted copy "
                             "and .reindex(orders.index) / .sort_index() at the end)")
    else:
        vals = list(result)
        expect(len(vals) == len(orders), f"one flag per order expected ({len(orders)}), got {len(vals)}")
        s = pd.Series(vals, index=orders.index)
    expect(len(s) == len(orders), f"one flag per order expected ({len(orders)}), got {len(s)}")
    expect(not s.isna().any(), "some flags are missing (NaN/None): every order gets True or False — "
                               "a customer's first order is False")
    return s.astype(bool)


def _wrong_ids(fn, orders: pd.DataFrame, expected: pd.Series) -> set:
    got = _align(call(fn, orders.copy()), orders)
    ok = expected.isna() | (expected == got)
    return set(orders.loc[~ok, "id_pedido"]), got


def task_device_rule(fn) -> None:
    """fn(orders) -> boolean Series aligned with orders: device differs from the habitual one."""
    orders, expected = planted_device_orders()
    ids, got = _wrong_ids(fn, orders, expected)
    if not ids:
        RESULTS["device_rule"] = {"orders": len(orders), "flagged": int(got.sum())}
        passed("device_rule", f"{int(got.sum())} of {len(orders)} planted orders flagged, the right ones")
        return
    # Same orders, already in time order: if that is right, the learner forgot to sort.
    chrono = orders.sort_values(["id_pessoa", "dt_venda"], kind="stable")
    ids_sorted, _ = _wrong_ids(fn, chrono, expected.loc[chrono.index])
    if not ids_sorted:
        raise TaskFailed(
            "right when the orders arrive in time order, wrong on the shuffled ones: sort by "
            "id_pessoa and dt_venda before looking at 'earlier' orders (and return the flags in the "
            "input's order — keep its index)")
    ids = ids_sorted
    if ids & {101, 201, 301, 401}:
        raise TaskFailed("a customer's FIRST order was flagged: it has no earlier device to compare "
                         "with — a first order is never flagged")
    if 104 in ids:
        raise TaskFailed(
            "order 104 (the customer back on their usual Moto right after one fraudulent iPhone order) "
            "was flagged: you compared with the previous order: a single fraud then flags the next "
            "legit order too. Compare with the customer's habitual (most frequent) device among ALL "
            "earlier orders")
    if 305 in ids and 304 not in ids:
        raise TaskFailed(
            "order 305 (the fraudster back with the same Windows PC) was not flagged: a 'never seen "
            "before' rule misses a returning fraudster. The device is still not the customer's "
            "habitual one (Redmi 12 used 3×) — compare with the most frequent earlier device")
    if ids & {402, 404, 405}:
        raise TaskFailed(
            "customer 4 switched from an iPhone 11 to an iPhone 15 for good: the new phone is flagged "
            "while the old one is still the most used (order 402), and becomes the habitual device "
            "once it is used more often (404 and 405 are not flagged). Count the devices of the "
            "customer's earlier orders and take the most frequent one")
    raise TaskFailed(f"wrong flags for orders {sorted(ids)}: flag an order when its device differs "
                     "from the most frequent device of the same customer's earlier orders")


# ---- task 4: determinism -------------------------------------------------------------------
def task_fingerprint(fn) -> None:
    """fn(seed, now) -> a fingerprint (str) of generated data; same inputs ⇒ same fingerprint."""
    now = datetime(2026, 1, 31, 12, 0, 0)
    a = call(fn, 42, now)
    expect(isinstance(a, str) and len(a) >= 8,
           f"data_fingerprint() must return a string such as a hex digest (got {a!r}) — e.g. "
           "hashlib.sha256(...).hexdigest()")
    b = call(fn, 42, now)
    expect(a == b, "two calls with the same seed and NOW gave different fingerprints: something is "
                   "not seeded — pass seed= and now= to the generators (no datetime.now(), no "
                   "unseeded random) and hash the DataFrames' values (pd.util.hash_pandas_object)")
    c = call(fn, 43, now)
    expect(c != a, "seed 42 and seed 43 gave the same fingerprint: is the seed passed on to the "
                   "generators, and is the generated data (not just its shape) hashed?")
    d = call(fn, 42, now + timedelta(days=1))
    expect(d != a, "moving NOW by one day did not change the fingerprint: history is dated relative "
                   "to NOW (1–180 days before it) — pass now= to the generators and hash the dates too")
    RESULTS["fingerprint"] = {"fingerprint": a[:16]}
    passed("fingerprint", f"same seed + NOW ⇒ {a[:16]}…, another seed or NOW ⇒ another fingerprint")
