"""Lesson 04's planted wrong answers (see jornada.checks.wrong_answers)."""

# averages the fraud flag over item rows (the fact's grain), not over orders
ITEM_GRAIN_RATE = '''
    rows = conn.execute("select uf_pedido, avg(fraude_confirmada::int)::float8 from marts.fato_pedidos "
                        "group by uf_pedido").fetchall()
    return dict(rows)
'''

# an incremental model whose watermark is updated_at: the late row is skipped forever
UPDATED_AT_WATERMARK = '''
    sql = """
{{ config(materialized='incremental', unique_key='id_pedido') }}
select id_pedido, id_pessoa, dt_venda, valor_total, updated_at
from {{ source('exercicio', 'pedidos') }}
{% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
"""
    yml = """
version: 2
models:
  - name: pedidos_incremental
    columns:
      - name: id_pedido
        data_tests: [unique, not_null]
"""
    return sql, yml
'''

CASES = [
    {"name": "fraud-rate-at-item-grain",
     "plant": {"fraud_rate_by_uf": ITEM_GRAIN_RATE},
     "expect": {"task_fraud_rate_by_uf": ["ITEM grain", "count(distinct id_pedido)"]}},
    {"name": "updated-at-watermark",
     "plant": {"incremental_model": UPDATED_AT_WATERMARK},
     "expect": {"task_incremental_model": ["late row", "loaded_at"]}},
]
