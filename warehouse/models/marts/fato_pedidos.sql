-- Sales fact at ORDER-ITEM grain: one row per (id_pedido, id_produto).
--
-- Measures are ADDITIVE: qtde, valor_unit (price paid) and valor_total_item = qtde × valor_unit.
-- The original course stored the whole ORDER total on every item row, so any SUM over items
-- counted an order of 3 items three times; order-level numbers come from summing items here.
--
-- Incremental, strategy delete+insert keyed by id_pedido: each run rebuilds every order that
-- has ANY row (header, item, audit, fraud label) the loader (re)wrote since the newest
-- loaded_at already in this table minus var('lookback'). Why not the original's watermark on
-- the OLTP's updated_at ("rows with updated_at > last max")?
--   * updated_at is the OLTP statement's time, not when the row became visible: a transaction
--     that commits late — or a back-dated bulk load, or a chargeback for a months-old order —
--     lands BELOW the watermark and is never picked up;
--   * deleted rows carry no updated_at at all.
-- loaded_at is stamped by the warehouse loader (raw._loaded_at): loader transactions are
-- serialized and stamped after taking their lock, so stamps grow in commit order and a
-- transaction still open during the previous run gets a stamp above anything that run saw —
-- "loaded_at > last max" misses nothing and re-reads nothing (lookback 0 is exact; the var
-- is a safety margin for loaders that skip the lock). The loader also leaves a re-delivered,
-- unchanged row alone, so only real changes move loaded_at.
-- Replacing the WHOLE order (delete+insert on id_pedido, not on the item key) makes an item
-- removed from an order disappear too; the post-hooks remove rows whose item or order is gone
-- altogether and labels withdrawn later (anti-joins: deletes leave nothing to select). A
-- customer change that reaches the warehouse late re-keys the orders it affects (touched).
-- refs used only by incremental runs, declared so dbt orders the DAG the same way every time:
-- depends_on: {{ ref('stg_pedidos') }}, {{ ref('stg_auditoria_pedidos') }}, {{ ref('stg_fraudes_confirmadas') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='id_pedido',
    on_schema_change='sync_all_columns',
    indexes=[{'columns': ['id_pedido']}, {'columns': ['sk_data']}, {'columns': ['loaded_at']}],
    post_hook=[
        "delete from {{ this }} f where not exists (
             select 1 from {{ ref('stg_itens_pedidos') }} i
             join {{ ref('stg_pedidos') }} p on p.id_pedido = i.id_pedido
             where i.id_pedido = f.id_pedido and i.id_produto = f.id_produto)",
        "update {{ this }} f set fraude_confirmada = false, tipo_fraude = null
         where f.fraude_confirmada and not exists (
             select 1 from {{ ref('stg_fraudes_confirmadas') }} l where l.id_pedido = f.id_pedido)",
    ]
) }}

with
{% if is_incremental() %}
cutoff as (
    select
        coalesce(max(loaded_at), cast('-infinity' as timestamptz))
        - interval '{{ var("lookback") }}' as since
    from {{ this }}
),

touched as (
    select id_pedido from {{ ref('stg_pedidos') }}
    where loaded_at > (select cutoff.since from cutoff)
    union
    select id_pedido from {{ ref('stg_itens_pedidos') }}
    where loaded_at > (select cutoff.since from cutoff)
    union
    select id_pedido from {{ ref('stg_auditoria_pedidos') }}
    where loaded_at > (select cutoff.since from cutoff)
    union
    select id_pedido from {{ ref('stg_fraudes_confirmadas') }}
    where loaded_at > (select cutoff.since from cutoff)
    union
    -- a late-arriving dimension: a customer version the warehouse learnt of since the cut-off
    -- re-keys that customer's orders placed from the version's start on
    select p.id_pedido
    from {{ ref('dim_pessoas') }} as d
    inner join {{ ref('stg_pedidos') }} as p on p.id_pessoa = d.id_pessoa and p.dt_venda >= d.valid_from
    where d.loaded_at > (select cutoff.since from cutoff)
),
{% endif %}
pedidos as (
    select *
    from {{ ref('int_pedidos') }}
    {% if is_incremental() %}
    where id_pedido in (select touched.id_pedido from touched)
    {% endif %}
)

select
    {{ surrogate_key(['i.id_pedido', 'i.id_produto']) }} as sk_item,
    i.id_pedido,
    i.id_produto,
    dp.sk_pessoa,
    pr.sk_produto,
    cast(to_char(p.dt_venda, 'YYYYMMDD') as integer)     as sk_data,
    p.id_pessoa,
    p.dt_venda,
    p.dispositivo,
    p.geohash,
    p.uf_pedido,
    p.fraude_confirmada,
    p.tipo_fraude,
    i.qtde,
    i.valor_unit,
    i.valor_total_item,
    -- the newest load this row depends on (the next run's watermark)
    greatest(p.loaded_at, i.loaded_at, dp.loaded_at)     as loaded_at
from pedidos as p
inner join {{ ref('stg_itens_pedidos') }} as i on i.id_pedido = p.id_pedido
-- the customer's version that was valid when the order was placed (SCD2 range join)
left join {{ ref('dim_pessoas') }} as dp
    on dp.id_pessoa = p.id_pessoa
    and p.dt_venda >= dp.valid_from
    and p.dt_venda < dp.valid_to
left join {{ ref('dim_produtos') }} as pr on pr.id_produto = i.id_produto
