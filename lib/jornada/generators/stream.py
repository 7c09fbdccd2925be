"""Current-time orders, one transaction each, new customers on the way."""

from __future__ import annotations

import heapq
import json
import signal
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal
from collections.abc import Callable

import numpy as np

from .params import DEFAULT_TRUTH, GroundTruth, _naive_utc, utcnow, validate
from .traits import activity_weight
from .customers import _TAG_STREAM, generate_customers
from .history import DEVICE, LEGIT, LOCATION, REPEAT_SHARE, TAKEOVER, TIPO_FRAUDE, _build_orders, _customer_arrays, _device_split, _product_pools, _progress, _read_customers, _read_products, _stats


# Stream: current-time orders, one transaction each
# ---------------------------------------------------------------------------------------------

STREAM_BATCH = 256   # orders decided together (vectorised), then inserted one transaction each
BURST = (1, 3)       # an account takeover is followed by 1..3 more orders of the same fraudster…
BURST_GAP = (1, 4)   # …each 1..4 orders later (seconds apart at a few orders per second)

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
# The order's event for the real-time scorer, written in the order's own transaction (the outbox
# pattern without an outbox table): a transactional logical decoding message, which Debezium
# publishes to ``<topic.prefix>.message`` at the commit, or never if the transaction rolls back.
# One self-contained event per order means the scorer joins no streams (see jornada.lake.scorer).
ORDER_EVENT_PREFIX = "jornada.order"
_SQL_EVENT = "select pg_logical_emit_message(true, %s, %s)"
_SQL_LABEL = ("insert into fraudes_confirmadas (id_pedido, tipo_fraude, confirmada_em,"
              " created_at, updated_at) values (%s, %s, %s, %s, %s)")


def _dec(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


class _StreamSource:
    """Decides stream orders in vectorised batches; keeps what it needs to know in memory."""

    def __init__(self, conn, *, seed: int, fraud_rate: float, new_customer_share: float,
                 truth: GroundTruth = DEFAULT_TRUTH):
        self.seed, self.fraud_rate, self.new_share = seed, fraud_rate, new_customer_share
        self.truth = truth
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
        from .. import geo
        geo.state_of(-23.55, -46.63)          # build the state index now, not in the first order
        self.batch_no = 0
        self.position = 0                     # orders handed out so far
        self.queue: deque = deque()
        # returning fraudsters, a heap of (due position, sequence, customer row, kind): device
        # fraudsters who come back, account takeovers that go on in a burst
        self.followups: list[tuple[int, int, int, int]] = []
        self.followup_seq = 0

    def _follow(self, due: int, row: int, kind: int) -> None:
        heapq.heappush(self.followups, (due, self.followup_seq, row, kind))
        self.followup_seq += 1

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

        # fraud kinds, order by order (each depends on the customer's history so far). Draw
        # rates: first frauds at ``base``; device returns and takeover bursts add the rest.
        t = self.truth
        share_dev = _device_split(t)
        burst_mean = (BURST[0] + BURST[1]) / 2
        first_share = {TAKEOVER: t.takeover / (1 + burst_mean)}
        first_share[DEVICE] = t.device / (1 + REPEAT_SHARE)
        first_share[LOCATION] = t.location
        norm = sum(first_share.values()) or 1.0
        p_tk = first_share[TAKEOVER] / norm          # of the first-drawn frauds
        base = self.fraud_rate * norm
        ids = self.cust["id"]
        elig = np.mean([self.hist.get(int(i), (0, 0))[0] > 0 for i in ids[ci]])
        p_dev = min(1.0, share_dev / max(elig, 1e-9))
        u, v, w, x = rng.random(B), rng.random(B), rng.random(B), rng.random(B)
        gaps = rng.integers(1, 40, size=B)
        bursts = rng.integers(BURST[0], BURST[1] + 1, size=B)
        burst_gaps = rng.integers(BURST_GAP[0], BURST_GAP[1] + 1, size=(B, BURST[1]))
        kind = np.zeros(B, dtype=np.int64)
        rank = np.zeros(B, dtype=np.int64)
        for j in range(B):
            pos = self.position + j
            forced = None
            if self.followups and self.followups[0][0] <= pos and not new[j]:
                _, _, ci[j], forced = heapq.heappop(self.followups)
            h = self.hist.setdefault(int(ids[ci[j]]), [0, 0])
            can_dev = h[0] >= 1 and h[1] + 1 <= h[0] - h[1]
            if forced == TAKEOVER:
                kind[j] = TAKEOVER
            elif forced == DEVICE:
                kind[j] = DEVICE if can_dev else LEGIT
            elif u[j] < base:
                if x[j] < p_tk:
                    kind[j] = TAKEOVER
                    due = pos
                    for g in burst_gaps[j, :bursts[j]]:
                        due += int(g)
                        self._follow(due, int(ci[j]), TAKEOVER)
                elif v[j] < p_dev and can_dev:
                    kind[j] = DEVICE
                    if w[j] < REPEAT_SHARE:
                        self._follow(pos + int(gaps[j]), int(ci[j]), DEVICE)
                else:
                    kind[j] = LOCATION
            rank[j] = h[0]
            h[0] += 1
            h[1] += int(kind[j] == DEVICE)

        dt = np.full(B, np.datetime64(when, "s"))
        built = _build_orders(rng, self.cust, ci, dt, kind, self.produtos, self.pools, rank, t)
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


def order_event(order_id: int, order: dict, dt: datetime) -> str:
    """The JSON of an order's event, in the encodings Debezium gives the same columns (sale time
    in microseconds since the epoch, naive UTC; the amount as a decimal string)."""
    micros = (dt - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    return json.dumps({"id_pedido": order_id, "id_pessoa": order["id_pessoa"], "dt_venda": micros,
                       "valor_total": str(_dec(order["total"])), "n_items": len(order["items"]),
                       "dispositivo": order["dispositivo"], "geohash": order["geohash"]},
                      separators=(",", ":"))


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
    cur.execute(_SQL_EVENT, (ORDER_EVENT_PREFIX, order_event(order_id, order, dt)), prepare=True)
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
               clock: Callable[[], datetime] | None = None,
               truth: GroundTruth = DEFAULT_TRUTH) -> dict:
    """Simulate the live shop: current-time orders, ONE transaction per order.

    Each transaction holds the order, its items, its audit row, the fraud label when it is a
    fraud, and — for ``new_customer_share`` of the orders — the brand-new customer and address.
    ``dt_venda`` is ``clock()`` (default: now, naive UTC), called once per order right before its
    transaction. Paced at ``rate`` orders/s if given (otherwise as fast as possible); stops after
    ``count`` orders and/or ``duration`` seconds, whichever comes first (at least one is
    required). ``truth``: the fraud mix and honest surprises (:class:`GroundTruth`); in the
    stream an account takeover shows as an expensive basket followed by a burst of 1..3 more
    orders on the same account a few orders later (the hour is the wall clock's). Ctrl-C — or a KeyboardInterrupt raised by ``clock`` — stops cleanly: the order in
    flight is either fully committed or not written at all, and the statistics are returned.
    """
    from ..db import connect

    validate(count=count, rate=rate, fraud_rate=fraud_rate, duration=duration,
             new_customer_share=new_customer_share)
    if count is None and duration is None:
        raise ValueError("say when to stop: give count (orders) and/or duration (seconds)")
    clock = clock or utcnow
    done = items = new_customers = 0
    frauds = {t: 0 for t in TIPO_FRAUDE.values()}
    interrupted = False
    with connect("oltp") as conn:
        source = _StreamSource(conn, seed=seed, fraud_rate=fraud_rate,
                               new_customer_share=new_customer_share, truth=truth)
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
