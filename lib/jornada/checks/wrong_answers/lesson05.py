"""Lesson 05's planted wrong answers (see jornada.checks.wrong_answers)."""

# a "gate" that returns False instead of raising: the task succeeds on an empty table
GATE_THAT_ONLY_WARNS = '''
    @dag(dag_id="gate_warns_" + table.replace(".", "_"), schedule=None,
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
    def gate_dag():
        @task(retries=0)
        def gate() -> bool:
            with connect("olap") as conn:
                rows = conn.execute(f"select count(*) from {table}").fetchone()[0]
            return rows > 0          # a "gate" that only reports

        gate()

    return gate_dag()
'''

CASES = [
    {"name": "gate-that-does-not-raise",
     "plant": {"make_gate_dag": GATE_THAT_ONLY_WARNS},
     "expect": {"task_quality_gate": ["RAISES"]}},
]
