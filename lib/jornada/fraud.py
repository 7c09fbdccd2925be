"""The shop's two fraud rules, made precise, and how to score them.

The rules look only at what the shop knows when an order arrives — the order and its audit row
(device, geohash). They never read ``fraudes_confirmadas``: those confirmed frauds (chargebacks)
arrive weeks later and are used here only by :func:`load_labels` / :func:`evaluate`, to measure
the rules.

1. Location: the order's geohash lies outside the states of SP, MG and RJ (point-in-polygon on
   real state boundaries via :mod:`jornada.geo`; abroad or at sea counts as outside).
2. Device: the order is made with a device different from the customer's earlier ones. Three
   readings of "earlier ones", all vectorised with pandas:

   * ``habitual`` — differs from the customer's most frequent device among earlier orders
     (ties: the device that reached that count first keeps the title, so the habitual device
     only changes when another one strictly overtakes it);
   * ``previous`` — differs from the immediately previous order's device (flags the legit order
     right after a fraud too, and misses a fraudster's second order);
   * ``never_seen`` — a device this customer never used before (misses a fraudster who comes
     back with the same device).

   A customer's first order has no history: never flagged.

The labels are not what the rules look for (see :mod:`jornada.generators`): honest travellers and
phone changes make the rules raise false alarms, and account takeovers (``conta_invadida``: own
device, own area) slip past both. :func:`evaluate` therefore scores each rule both against its
own fraud type and against any fraud, and :func:`confusion` counts the four cells per rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HOME_STATES = frozenset({"SP", "MG", "RJ"})
# the kinds of confirmed fraud (fraudes_confirmadas.tipo_fraude; the OLTP schema checks the list)
FRAUD_TYPES = ("localizacao", "dispositivo", "conta_invadida")
DEVICE_VARIANTS = ("habitual", "previous", "never_seen")
RULE_TYPES = {"location": "localizacao", "localizacao": "localizacao",
              "device": "dispositivo", "dispositivo": "dispositivo"}

_ORDERS_SQL = """
select p.id as id_pedido, p.id_pessoa, p.dt_venda, a.dispositivo, a.geohash
from pedidos p
join auditoria_pedidos a on a.id_pedido = p.id
order by p.dt_venda, p.id
"""


def load_orders(which: str = "oltp") -> pd.DataFrame:
    """Orders with their audit data: id_pedido, id_pessoa, dt_venda, dispositivo, geohash."""
    from .db import query_df

    df = query_df(_ORDERS_SQL, which=which)
    if df.empty:
        return pd.DataFrame({"id_pedido": pd.Series(dtype="int64"),
                             "id_pessoa": pd.Series(dtype="int64"),
                             "dt_venda": pd.Series(dtype="datetime64[ns]"),
                             "dispositivo": pd.Series(dtype=object),
                             "geohash": pd.Series(dtype=object)})
    df["id_pedido"] = df["id_pedido"].astype("int64")
    df["id_pessoa"] = df["id_pessoa"].astype("int64")
    df["dt_venda"] = pd.to_datetime(df["dt_venda"])
    return df


def location_flags(orders: pd.DataFrame) -> pd.Series:
    """True where the order's geohash is outside SP, MG and RJ (index: id_pedido).

    An order without a geohash (None, NaN or empty) is never flagged, whatever its neighbours:
    the rule has no location to judge. Count such orders apart if they matter.
    """
    from . import geo

    index = pd.Index(orders["id_pedido"], name="id_pedido")
    cells = orders["geohash"].astype("string").str.strip().str.lower()
    known = (cells.notna() & (cells != "")).to_numpy()
    outside = np.zeros(len(orders), dtype=bool)
    if known.any():
        # Each distinct cell is looked up once (customers order from the same places again).
        codes, uniques = pd.factorize(cells[known].astype(object))
        uf = np.asarray(geo.states_of_geohash(np.asarray(uniques, dtype=object)), dtype=object)
        outside[known] = np.array([u not in HOME_STATES for u in uf], dtype=bool)[codes]
    return pd.Series(outside, index=index, name="location")


def _chronological(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders sorted by customer, then sale time, then id (the order the rules read history)."""
    cols = ["id_pessoa", "dt_venda", "id_pedido"]
    return orders[cols + ["dispositivo"]].sort_values(cols, kind="stable").reset_index(drop=True)


def device_flags(orders: pd.DataFrame, variant: str = "habitual") -> pd.Series:
    """True where the order's device differs from the customer's earlier devices.

    ``variant``: "habitual" (most frequent earlier device), "previous" (previous order's device)
    or "never_seen" (any earlier device). Index: id_pedido, in the input's order.
    """
    if variant not in DEVICE_VARIANTS:
        raise ValueError(f"unknown device rule variant {variant!r}: choose one of "
                         f"{', '.join(DEVICE_VARIANTS)}")
    if orders.empty:
        return pd.Series([], index=pd.Index(orders["id_pedido"], name="id_pedido"), dtype=bool,
                         name=f"device_{variant}")
    s = _chronological(orders)
    cust = s["id_pessoa"].to_numpy()
    dev_codes = pd.factorize(s["dispositivo"])[0]
    first_of_customer = np.r_[True, cust[1:] != cust[:-1]]

    if variant == "previous":
        prev = np.r_[-1, dev_codes[:-1]]
        flag = ~first_of_customer & (dev_codes != prev)
    elif variant == "never_seen":
        seen_before = s.duplicated(["id_pessoa", "dispositivo"]).to_numpy()
        flag = ~first_of_customer & ~seen_before
    else:
        # count_incl: how many times this customer has used this device, this order included.
        count_incl = s.groupby(["id_pessoa", "dispositivo"], sort=False).cumcount().to_numpy() + 1
        # best_before: the highest such count among the customer's earlier orders.
        best_incl = pd.Series(count_incl).groupby(cust, sort=False).cummax().to_numpy()
        best_before = np.where(first_of_customer, 0, np.r_[0, best_incl[:-1]])
        # A device becomes (or stays) habitual when its count strictly beats every earlier count;
        # the habitual device after order i is the device of the last such "record" up to i.
        record = count_incl > best_before
        leader = pd.Series(np.where(record, dev_codes, np.nan))
        leader = leader.groupby(cust, sort=False).ffill().to_numpy()
        habitual_before = np.where(first_of_customer, np.nan, np.r_[np.nan, leader[:-1]])
        flag = ~first_of_customer & (dev_codes != habitual_before)

    result = pd.Series(flag, index=pd.Index(s["id_pedido"].to_numpy(), name="id_pedido"),
                       name=f"device_{variant}")
    return result.reindex(pd.Index(orders["id_pedido"], name="id_pedido"))


def load_labels(which: str = "oltp") -> pd.DataFrame:
    """Confirmed frauds (id_pedido, tipo_fraude) — for evaluating rules only, never as input."""
    from .db import query_df

    df = query_df("select id_pedido, tipo_fraude from fraudes_confirmadas order by id_pedido",
                  which=which)
    if df.empty:
        return pd.DataFrame({"id_pedido": pd.Series(dtype="int64"),
                             "tipo_fraude": pd.Series(dtype=object)})
    df["id_pedido"] = df["id_pedido"].astype("int64")
    return df


def _rule_type(name: str) -> str | None:
    key = name.lower()
    for prefix, tipo in RULE_TYPES.items():
        if key.startswith(prefix):
            return tipo
    return None


def evaluate(flags: dict[str, pd.Series], labels: pd.DataFrame,
             types: dict[str, str] | None = None) -> pd.DataFrame:
    """Score rules against the confirmed frauds.

    ``flags``: rule name → boolean Series indexed by id_pedido (all orders the rule looked at).
    A rule is scored against its own fraud type, taken from ``types`` or from its name
    ("location…" → localizacao, "device…" → dispositivo). One row per rule with: orders, flagged,
    fraud_type, positives (labelled frauds of that type among the orders), true_positives,
    precision, recall, f1, precision_any (share of flagged orders that are any fraud),
    positives_any (all labelled frauds among the orders) and recall_any (share of them flagged).
    """
    lab = labels.set_index("id_pedido")["tipo_fraude"] if len(labels) else pd.Series(dtype=object)
    rows = []
    for name, flag in flags.items():
        tipo = (types or {}).get(name) or _rule_type(name)
        if tipo is None:
            raise ValueError(f"can't tell which fraud type rule {name!r} targets: name it "
                             "'location…' or 'device…', or pass types={name: 'localizacao'}")
        flag = flag.astype(bool)
        truth = lab.reindex(flag.index)
        own = (truth == tipo).to_numpy()
        anyf = truth.notna().to_numpy()
        f = flag.to_numpy()
        flagged, tp, positives = int(f.sum()), int((f & own).sum()), int(own.sum())
        precision = tp / flagged if flagged else float("nan")
        recall = tp / positives if positives else float("nan")
        f1 = (2 * precision * recall / (precision + recall)
              if flagged and positives and (precision + recall) > 0 else float("nan"))
        rows.append({"rule": name, "fraud_type": tipo, "orders": int(f.size), "flagged": flagged,
                     "positives": positives, "true_positives": tp, "precision": precision,
                     "recall": recall, "f1": f1,
                     "precision_any": int((f & anyf).sum()) / flagged if flagged else float("nan"),
                     "positives_any": int(anyf.sum()),
                     "recall_any": (int((f & anyf).sum()) / int(anyf.sum()) if anyf.any()
                                    else float("nan"))})
    return pd.DataFrame(rows).set_index("rule")


def confusion(flags: dict[str, pd.Series], labels: pd.DataFrame) -> pd.DataFrame:
    """Per rule, the confusion table against ANY confirmed fraud: true_pos (flagged fraud),
    false_pos (flagged honest order), false_neg (missed fraud), true_neg, plus the missed frauds
    by type (``missed_<tipo>``) — which kinds of fraud a rule cannot see."""
    lab = labels.set_index("id_pedido")["tipo_fraude"] if len(labels) else pd.Series(dtype=object)
    rows = []
    for name, flag in flags.items():
        f = flag.astype(bool).to_numpy()
        truth = lab.reindex(flag.index)
        fr = truth.notna().to_numpy()
        row = {"rule": name, "true_pos": int((f & fr).sum()), "false_pos": int((f & ~fr).sum()),
               "false_neg": int((~f & fr).sum()), "true_neg": int((~f & ~fr).sum())}
        for tipo in FRAUD_TYPES:
            row[f"missed_{tipo}"] = int((~f & (truth == tipo).to_numpy()).sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("rule")


def all_flags(orders: pd.DataFrame) -> dict[str, pd.Series]:
    """The location rule and the three device variants, ready for :func:`evaluate`."""
    out = {"location": location_flags(orders)}
    for v in DEVICE_VARIANTS:
        out[f"device_{v}"] = device_flags(orders, v)
    return out


def fraud_summary(which: str = "oltp") -> dict:
    """Orders, confirmed frauds by type and the fraud rate in the database."""
    from .db import connect

    with connect(which) as conn:
        orders = conn.execute("select count(*) from pedidos").fetchone()[0]
        by_type = dict(conn.execute("select tipo_fraude, count(*) from fraudes_confirmadas"
                                    " group by 1 order by 1").fetchall())
    total = sum(by_type.values())
    return {"orders": orders, "frauds": total,
            "by_type": {t: by_type.get(t, 0) for t in FRAUD_TYPES},
            "rate": round(total / orders, 4) if orders else 0.0}
