{#- Generic test: every row satisfies `expression` (rows that do not are the failures).
      data_tests:
        - expression_is_true:
            arguments:
              expression: "valor_total_item = qtde * valor_unit" -#}
{% test expression_is_true(model, expression, column_name=None) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
