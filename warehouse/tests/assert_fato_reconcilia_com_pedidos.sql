-- Reconciliation: for every order, the fact's revenue (sum of its item rows) equals the order
-- total in the source (raw mirror of the OLTP; tests/test_warehouse.py also compares with the
-- OLTP itself). Returns the orders that disagree or are missing from the fact.
-- Would have caught the original's bug (order total repeated on each item row).
with fato as (
    select id_pedido, sum(valor_total_item) as receita_fato
    from {{ ref('fato_pedidos') }}
    group by id_pedido
),
fonte as (
    select p.id_pedido, p.valor_total_pedido
    from {{ ref('stg_pedidos') }} p
    where exists (select 1 from {{ ref('stg_itens_pedidos') }} i where i.id_pedido = p.id_pedido)
)
select
    coalesce(fonte.id_pedido, fato.id_pedido) as id_pedido,
    fonte.valor_total_pedido,
    fato.receita_fato
from fonte
full outer join fato on fato.id_pedido = fonte.id_pedido
where fonte.valor_total_pedido is distinct from fato.receita_fato
