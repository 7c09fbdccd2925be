"""History load: our bulk path (COPY, one transaction) vs the original's row-by-row style.

Both run against the same OLTP Postgres in the same run, each after a reset, with the same seed and
reference "now" and the same customers, so the only difference is how rows reach the database.
"""

from __future__ import annotations

from datetime import datetime

from jornada import generators
from jornada.schema import init_oltp

NOW = datetime(2026, 1, 31, 12, 0, 0)


def _fresh(customers: int, seed: int) -> None:
    init_oltp(reset=True)
    generators.load_customers(customers, seed=seed, now=NOW)


def run(bulk_orders: int = 100_000, row_orders: int = 1_000, customers: int = 5_000,
        seed: int = 7, stream_orders: int = 3_000) -> dict:
    _fresh(customers, seed)
    bulk = generators.load_history(bulk_orders, seed=seed, now=NOW, progress=False)
    _fresh(customers, seed)
    row = generators.load_history_row_by_row(row_orders, seed=seed, now=NOW)
    _fresh(customers, seed)
    stream = generators.run_stream(count=stream_orders, seed=seed, progress=False)
    init_oltp(reset=True)
    ratio = bulk["orders_per_s"] / row["orders_per_s"]
    return {
        "history_load": {
            "bulk_copy": {k: bulk[k] for k in ("orders", "seconds", "orders_per_s", "rows_per_s") if k in bulk},
            "row_by_row_baseline": {k: row[k] for k in ("orders", "seconds", "orders_per_s", "rows_per_s") if k in row},
            "speedup": round(ratio, 1),
            "goal_speedup": 100,
            "goal_met": ratio >= 100,
        },
        "stream_generator": {
            "orders": stream.get("orders"), "orders_per_s": stream.get("orders_per_s"),
            "note": "one transaction per order, unpaced",
        },
    }
