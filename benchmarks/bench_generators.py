"""History load: our bulk path (COPY, one transaction) vs the original's row-by-row style.

Both run against the same OLTP Postgres in the same run, each after a reset, with the same seed and
reference "now" and the same customers, so the only difference is how rows reach the database.
The measured rate is the whole `load_history` call: read customers and products, generate, COPY
and commit. For context (not part of the ratio) the pure in-memory part is timed on its own too:
`generate_history` plus the COPY text formatting, without a database — what is left of the bulk
time is the server ingesting the rows (FK checks, indexes, WAL).
"""

from __future__ import annotations

import time
from datetime import datetime

from benchmarks.row_by_row import load_history_row_by_row
from jornada import generators
from jornada.schema import init_oltp

NOW = datetime(2026, 1, 31, 12, 0, 0)
GOAL_SPEEDUP = 150
GOAL_BULK_ORDERS_PER_S = 100_000


def _fresh(customers: int, seed: int) -> None:
    init_oltp(reset=True)
    generators.load_customers(customers, seed=seed, now=NOW)


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


def run(bulk_orders: int = 100_000, row_orders: int = 1_000, customers: int = 5_000,
        seed: int = 7, stream_orders: int = 3_000) -> dict:
    _fresh(customers, seed)
    bulk = generators.load_history(bulk_orders, seed=seed, now=NOW, progress=False)
    client = _client_side(bulk_orders, seed)
    _fresh(customers, seed)
    row = load_history_row_by_row(row_orders, seed=seed, now=NOW)
    _fresh(customers, seed)
    stream = generators.run_stream(count=stream_orders, seed=seed, progress=False)
    init_oltp(reset=True)
    ratio = bulk["orders_per_s"] / row["orders_per_s"]
    keys = ("orders", "seconds", "orders_per_s", "rows_per_s")
    return {
        "history_load": {
            "bulk_copy": {k: bulk[k] for k in keys if k in bulk},
            "row_by_row_baseline": {k: row[k] for k in keys if k in row},
            "speedup": round(ratio, 1),
            "goal_speedup": GOAL_SPEEDUP,
            "goal_bulk_orders_per_s": GOAL_BULK_ORDERS_PER_S,
            "goal_met": ratio >= GOAL_SPEEDUP and bulk["orders_per_s"] >= GOAL_BULK_ORDERS_PER_S,
            "bulk_client_side_only": client,
        },
        "stream_generator": {
            "orders": stream.get("orders"), "orders_per_s": stream.get("orders_per_s"),
            "note": "one transaction per order, unpaced",
        },
    }
