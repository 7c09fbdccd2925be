"""Lesson 03's planted wrong answers (see jornada.checks.wrong_answers)."""

# snapshot reads counted as creates
SNAPSHOT_AS_CREATES = '''
    changes = events[events["op"].notna()].replace({"op": {"r": "c"}})
    return pd.crosstab(changes["table"], changes["op"]).reindex(columns=["c", "u", "d"], fill_value=0)
'''

# events applied in commit-timestamp order instead of offset order
ORDER_BY_TS = '''
    state = {}
    for row in events.sort_values("source_ts_ms", kind="stable").itertuples():
        if row.op in ("r", "c", "u"):
            state[row.key["id"]] = row.after
        elif row.op == "d":
            state.pop(row.key["id"], None)
    return pd.DataFrame(list(state.values())).set_index("id")
'''

CASES = [
    {"name": "snapshot-reads-as-creates-and-ts-order",
     "plant": {"count_ops": SNAPSHOT_AS_CREATES, "rebuild_state": ORDER_BY_TS},
     "expect": {"task_count_ops": ["snapshot reads (op = 'r')"],
                "task_rebuild_state": ["order by offset, not by ts_ms"]}},
]
