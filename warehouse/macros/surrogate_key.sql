{#- A surrogate key: md5 of the parts, NULL-safe and separator-safe (no package needed).
    surrogate_key(['id_pedido', 'id_produto']) → md5('17' || '|' || '3') -#}
{% macro surrogate_key(columns) -%}
    md5(
    {%- for col in columns -%}
        coalesce(cast({{ col }} as text), '∅'){% if not loop.last %} || '|' || {% endif %}
    {%- endfor -%}
    )
{%- endmacro %}
