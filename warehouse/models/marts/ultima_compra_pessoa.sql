-- Each customer's (current version) last purchase, first purchase, orders and spend. Facts of
-- every version of a customer are summed by the natural key id_pessoa. "dias_sem_comprar" is
-- counted to the newest sale in the warehouse, not to the wall clock, so it is reproducible.
with purchases as (
    select
        id_pessoa,
        min(dt_venda)             as primeira_compra,
        max(dt_venda)             as ultima_compra,
        count(distinct id_pedido) as pedidos,
        sum(valor_total_item)     as total_gasto
    from {{ ref('fato_pedidos') }}
    group by id_pessoa
),

reference as (
    select max(dt_venda) as newest_sale from {{ ref('fato_pedidos') }}
)

select
    c.id_pessoa,
    c.nome,
    c.uf_residencia,
    x.primeira_compra,
    x.ultima_compra,
    coalesce(x.pedidos, 0)                                             as pedidos,
    coalesce(x.total_gasto, 0)                                         as total_gasto,
    cast(extract(day from r.newest_sale - x.ultima_compra) as integer) as dias_sem_comprar
from {{ ref('dim_pessoas') }} as c
cross join reference as r
left join purchases as x on x.id_pessoa = c.id_pessoa
where c.is_current
