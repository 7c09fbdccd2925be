"""Lesson 06's planted wrong answers (see jornada.checks.wrong_answers)."""

# the batch MERGEd as it came: key 1 changed twice, so two source rows match one target row
MERGE_WITHOUT_LATEST = '''
    from delta.tables import DeltaTable

    (DeltaTable.forPath(spark, target_url).alias("t")
     .merge(changes.alias("s"), "t.id = s.id")
     .whenMatchedDelete(condition="s.op = 'd' AND s.lsn > t.lsn")
     .whenMatchedUpdate(condition="s.op != 'd' AND s.lsn > t.lsn",
                        set={"nome": "s.nome", "valor": "s.valor", "lsn": "s.lsn"})
     .whenNotMatchedInsert(condition="s.op != 'd'",
                           values={"id": "s.id", "nome": "s.nome", "valor": "s.valor", "lsn": "s.lsn"})
     .execute())
'''

# the latest change per key, but no LSN guard: a replayed old event overwrites newer data
MERGE_WITHOUT_GUARD = '''
    from delta.tables import DeltaTable

    latest = (changes.withColumn("_n", F.row_number().over(Window.partitionBy("id").orderBy(F.col("lsn").desc())))
              .where("_n = 1").drop("_n"))
    (DeltaTable.forPath(spark, target_url).alias("t")
     .merge(latest.alias("s"), "t.id = s.id")
     .whenMatchedDelete(condition="s.op = 'd'")
     .whenMatchedUpdate(set={"nome": "s.nome", "valor": "s.valor", "lsn": "s.lsn"})
     .whenNotMatchedInsert(condition="s.op != 'd'",
                           values={"id": "s.id", "nome": "s.nome", "valor": "s.valor", "lsn": "s.lsn"})
     .execute())
'''

# "back to the beginning": version 0 loses what version 1 appended
RESTORE_TO_ZERO = '''
    spark.sql(f"RESTORE TABLE delta.`{url}` TO VERSION AS OF 0")
    return 0
'''

# the files stored in the bucket, which OPTIMIZE does not delete
COUNT_BUCKET_OBJECTS = '''
    from jornada.lake import delta_tools

    before = delta_tools.table_files(url)["data_files"]
    spark.sql(f"OPTIMIZE delta.`{url}` ZORDER BY (id_pessoa)")
    return {"before": before, "after": delta_tools.table_files(url)["data_files"]}
'''

# counts agree, so "reconciled": the one-cent difference in revenue goes unseen
COUNTS_ONLY = '''
    oltp = query_df("select to_char(date_trunc('month', dt_venda), 'YYYY-MM') as month, count(*) as orders "
                    "from pedidos group by 1")
    truth = dict(zip(oltp["month"], oltp["orders"]))
    gold = {r["month"]: r["orders"] for r in spark.read.format("delta").load(gold_url).collect()}
    return sorted(m for m in truth.keys() | gold.keys() if truth.get(m) != gold.get(m))
'''

# Each check run of this lesson starts Spark, so mistakes in different tasks share a notebook:
# a planted task gets its hint, the tasks left blank still say "to do".
CASES = [
    {"name": "merge-without-latest-change-per-key+restore-to-version-zero+reconcile-by-counts-only",
     "plant": {"merge_changes": MERGE_WITHOUT_LATEST, "undo_bad_update": RESTORE_TO_ZERO,
               "mismatched_months": COUNTS_ONLY},
     "expect": {"task_silver_merge": ["several source rows matched one target row", "LATEST change per key"],
                "task_undo_bad_update": ["you restored version 0", "just BEFORE the UPDATE"],
                "task_reconcile": ["not only count(*)"]}},
    {"name": "merge-without-lsn-guard+compact-counts-bucket-objects",
     "plant": {"merge_changes": MERGE_WITHOUT_GUARD, "compact": COUNT_BUCKET_OBJECTS},
     "expect": {"task_silver_merge": ["s.lsn > t.lsn"],
                "task_compact": ["counts the objects in the bucket", "until VACUUM", "numFiles"]}},
]
