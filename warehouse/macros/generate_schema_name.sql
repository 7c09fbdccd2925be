{#- Use the folder's schema as is (`staging`, `marts`, …) instead of dbt's default
    `<target schema>_<custom schema>`: one warehouse, readable names in lessons and BI tools. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
