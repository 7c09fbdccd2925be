"""History load: our bulk path (COPY, one transaction) vs the original's row-by-row style.

Both run against the same OLTP Postgres in the same run, each after a reset, with the same seed and
reference "now" and the same customers, so the only difference is how rows reach the database.
The measured rate is the whole `load_history` call: read customers and products, generate, COPY
and commit. Wall time is noisy on a shared machine, so CPU seconds per 100 k orders are recorded
too, of this process and of the Postgres server (from /proc, when it runs here). For context (not part of the ratio) the pure in-memory part is timed on its own too:
`generate_history` plus the COPY text formatting, without a database — what is left of the bulk
time is the server ingesting the rows (FK checks, indexes, WAL).
"""

from __future__ import annotations

import os
import resource
import time
from datetime import datetime
from pathlib import Path

from benchmarks.row_by_row import load_history_row_by_row
from jornada import generators
from jornada.schema import init_oltp

NOW = datetime(2026, 1, 31, 12, 0, 0)
GOAL_SPEEDUP = 150
GOAL_BULK_ORDERS_PER_S = 100_000


def _fresh(customers: int, seed: int) -> None:
    init_oltp(reset=True)
    generators.load_customers(customers, seed=seed, now=NOW)


def _postmaster() -> int | None:
    """The OLTP server's postmaster pid when it runs on this machine (native stack), else None."""
    from jornada.db import connect

    with connect("oltp") as conn:   # read while the backend lives: it exits with the connection
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
        try:
            ppid = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
            return ppid if Path(f"/proc/{ppid}/comm").read_text().strip() == "postgres" else None
        except (OSError, ValueError, IndexError):
            return None


def _cpu_s(pid: int | None) -> tuple[float, float | None]:
    """CPU seconds so far of this process (all threads) and of the Postgres server: the
    postmaster, the backends it has reaped (cutime/cstime) and its live children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    if pid is None:
        return me.ru_utime + me.ru_stime, None
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p, fields):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            return sum(int(f[i]) for i in fields) / tick
        except (OSError, ValueError, IndexError):
            return 0.0   # a backend that exited between listing and reading: reaped, counted
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    server = stat(pid, (11, 12, 13, 14)) + sum(stat(c, (11, 12)) for c in children)
    return me.ru_utime + me.ru_stime, server


def _timed(fn, orders: int, pid: int | None):
    """``fn()`` with wall and CPU seconds (client, server) per 100 k orders added."""
    time.sleep(0.3)   # let the server reap the backends of earlier work
    c0, s0 = _cpu_s(pid)
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    time.sleep(0.3)   # the load's backend has exited: wait until it is reaped and counted
    c1, s1 = _cpu_s(pid)
    k = 100_000 / orders
    out["per_100k_orders"] = {"wall_s": round(wall * k, 2), "client_cpu_s": round((c1 - c0) * k, 2),
                              "server_cpu_s": None if s0 is None else round((s1 - s0) * k, 2)}
    return out


class _Discard:
    """Stands in for a cursor: COPY text is formatted and thrown away."""

    def copy(self, sql):
        from contextlib import nullcontext

        return nullcontext(self)

    def write(self, data) -> None:
        pass


def _client_side(orders: int, seed: int) -> dict:
    """generate_history + COPY formatting for the customers now in the database, no COPY."""
    from jornada.db import connect

    with connect("oltp") as conn:
        customers = generators._read_customers(conn)
        produtos = generators._read_products(conn)
    t0 = time.perf_counter()
    data = generators.generate_history(customers, produtos, orders, seed=seed, now=NOW)
    t1 = time.perf_counter()
    for table, df in data.items():
        generators._copy_df(_Discard(), table, df, fmt=generators._HISTORY_FORMAT[table](1))
    t2 = time.perf_counter()
    return {"orders": orders, "generate_s": round(t1 - t0, 3), "format_s": round(t2 - t1, 3),
            "orders_per_s": round(orders / (t2 - t0), 1)}


class _Keep(_Discard):
    """Like _Discard, but keeps the COPY text (to replay it without the client's work)."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> None:
        self.parts.append(data)


def _ingest_floor(orders: int, seed: int, pid: int | None) -> dict:
    """The ceiling of any client: the same COPY text, formatted beforehand, replayed into bare
    copies of the four history tables (no key, index, check or trigger) in one transaction that
    is rolled back. What is left is parsing, heap and WAL: the least one backend spends."""
    from jornada.db import connect

    with connect("oltp") as conn:
        data = generators.generate_history(generators._read_customers(conn),
                                           generators._read_products(conn), orders, seed=seed,
                                           now=NOW)
    texts = {}
    for table, df in data.items():
        keep = _Keep()
        fmt = generators._HISTORY_FORMAT[table](1)
        generators._copy_df(keep, table, df, fmt=fmt)
        texts[table] = (", ".join(fmt(df.iloc[:1]).keys()), keep.parts)

    def replay() -> dict:
        with connect("oltp") as conn, conn.cursor() as cur:
            for table in texts:
                cur.execute(f"create table bench_bare_{table} (like {table} including defaults)")
            t0 = time.perf_counter()
            for table, (cols, parts) in texts.items():
                with cur.copy(f"copy bench_bare_{table} ({cols}) from stdin (format csv)") as cp:
                    for part in parts:
                        cp.write(part)
            seconds = time.perf_counter() - t0
            conn.rollback()
        return {"copy_seconds": round(seconds, 3), "orders_per_s": round(orders / seconds, 1)}

    return _timed(replay, orders, pid)


def run(bulk_orders: int = 100_000, row_orders: int = 1_000, customers: int = 5_000,
        seed: int = 7, stream_orders: int = 3_000) -> dict:
    _fresh(customers, seed)
    pid = _postmaster()
    bulk = _timed(lambda: generators.load_history(bulk_orders, seed=seed, now=NOW,
                                                  progress=False), bulk_orders, pid)
    client = _client_side(bulk_orders, seed)
    floor = _ingest_floor(bulk_orders, seed, pid)
    _fresh(customers, seed)
    row = _timed(lambda: load_history_row_by_row(row_orders, seed=seed, now=NOW), row_orders, pid)
    _fresh(customers, seed)
    stream = generators.run_stream(count=stream_orders, seed=seed, progress=False)
    init_oltp(reset=True)
    ratio = bulk["orders_per_s"] / row["orders_per_s"]
    cpu = {name: (None if r["per_100k_orders"]["server_cpu_s"] is None else
                  r["per_100k_orders"]["client_cpu_s"] + r["per_100k_orders"]["server_cpu_s"])
           for name, r in (("bulk", bulk), ("row", row))}
    keys = ("orders", "seconds", "orders_per_s", "rows_per_s", "per_100k_orders")
    return {
        "history_load": {
            "bulk_copy": {k: bulk[k] for k in keys if k in bulk},
            "row_by_row_baseline": {k: row[k] for k in keys if k in row},
            "speedup": round(ratio, 1),
            # the same ratio in CPU seconds (client + server): what the noise of a shared
            # machine's wall clock doesn't move
            "cpu_speedup": round(cpu["row"] / cpu["bulk"], 1) if cpu["bulk"] and cpu["row"] else None,
            "goal_speedup": GOAL_SPEEDUP,
            "goal_bulk_orders_per_s": GOAL_BULK_ORDERS_PER_S,
            "goal_met": ratio >= GOAL_SPEEDUP and bulk["orders_per_s"] >= GOAL_BULK_ORDERS_PER_S,
            "bulk_client_side_only": client,
            "server_ingest_floor": floor,
        },
        "stream_generator": {
            "orders": stream.get("orders"), "orders_per_s": stream.get("orders_per_s"),
            "note": "one transaction per order, unpaced",
        },
    }
