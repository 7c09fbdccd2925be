-- Reconciliation: for every order, the fact's revenue (sum of its item rows) equals the order
-- total in the source (raw mirror of the OLTP; tests/test_warehouse.py also compares with the
-- OLTP itself). Returns the orders that disagree or are missing from the fact.
-- Would have caught the original's bug (order total repeated on each item row).
with fact as (
    select
        id_pedido,
        sum(valor_total_item) as receita_fato
    from {{ ref('fato_pedidos') }}
    group by id_pedido
),

orders as (
    select
        p.id_pedido,
        p.valor_total_pedido
    from {{ ref('stg_pedidos') }} as p
    where exists (
        select 1 from {{ ref('stg_itens_pedidos') }} as i
        where i.id_pedido = p.id_pedido
    )
)

select
    coalesce(orders.id_pedido, fact.id_pedido) as id_pedido,
    orders.valor_total_pedido,
    fact.receita_fato
from orders
full outer join fact on fact.id_pedido = orders.id_pedido
where orders.valor_total_pedido is distinct from fact.receita_fato
