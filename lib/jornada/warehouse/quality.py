"""Quality gates: the raw mirror and the fact table reconciled with the OLTP, and freshness."""

from __future__ import annotations

from ..config import Settings, settings as load_settings
from ..db import connect
from .mirror import LOADS_TABLE, RAW, WarehouseError, _ident, tables


# ---- quality ---------------------------------------------------------------------------------
def compare_with_oltp(s: Settings | None = None) -> dict:
    """Row counts and revenue in the OLTP vs the raw mirror (and the fact, once dbt built it)."""
    s = s or load_settings()
    out: dict = {"tables": {}}
    with connect(s.oltp) as oltp, connect(s.olap) as olap:
        for t in tables():
            a = oltp.execute(f"select count(*) from public.{_ident(t)}").fetchone()[0]
            try:
                b = olap.execute(f"select count(*) from {RAW}.{_ident(t)}").fetchone()[0]
            except Exception:  # noqa: BLE001 - not loaded yet
                olap.rollback()
                b = None
            out["tables"][t] = {"oltp": a, "raw": b}
        out["revenue_oltp"] = oltp.execute(
            "select coalesce(sum(valor_total), 0) from itens_pedidos").fetchone()[0]
        out["revenue_raw"] = olap.execute(
            f"select coalesce(sum(valor_total), 0) from {RAW}.itens_pedidos").fetchone()[0]
        if olap.execute("select to_regclass('marts.fato_pedidos')").fetchone()[0]:
            out["revenue_fact"] = olap.execute(
                "select coalesce(sum(valor_total_item), 0) from marts.fato_pedidos").fetchone()[0]
        last = olap.execute(f"select max(finished_at), extract(epoch from now() - max(finished_at)) "
                            f"from {LOADS_TABLE}").fetchone()
        out["last_load_at"], out["last_load_age_s"] = last[0], (float(last[1]) if last[1] is not None else None)
    return out


def quality_gate(s: Settings | None = None, *, max_age_s: float = 3600, check_fact: bool = True) -> dict:
    """Fail (WarehouseError) unless raw == OLTP row for row count, revenues reconcile and the last
    load is recent. Meant for a quiet OLTP (the pipeline DAG); under a live stream, counts move."""
    rep = compare_with_oltp(s)
    problems = []
    for t, c in rep["tables"].items():
        if c["raw"] != c["oltp"]:
            problems.append(f"{t}: OLTP has {c['oltp']} rows, raw has {c['raw']}")
    if rep["revenue_raw"] != rep["revenue_oltp"]:
        problems.append(f"revenue: OLTP {rep['revenue_oltp']} vs raw {rep['revenue_raw']}")
    if check_fact:
        if "revenue_fact" not in rep:
            problems.append("marts.fato_pedidos does not exist — dbt build has not run")
        elif rep["revenue_fact"] != rep["revenue_oltp"]:
            problems.append(f"revenue: OLTP {rep['revenue_oltp']} vs fato_pedidos {rep['revenue_fact']}")
    if rep["last_load_age_s"] is None or rep["last_load_age_s"] > max_age_s:
        problems.append(f"freshness: last load {rep['last_load_age_s']} s ago (limit {max_age_s} s)")
    rep["problems"] = problems
    if problems:
        raise WarehouseError("data-quality gate failed:\n  " + "\n  ".join(problems))
    return rep
