-- Reconciliation at the top: total revenue of the fact = total of the raw order items.
-- One row (with both totals) when they differ.
select
    f.receita_fato,
    s.receita_itens
from (select coalesce(sum(valor_total_item), 0) as receita_fato from {{ ref('fato_pedidos') }}) as f,
    (
        select coalesce(sum(i.valor_total_item), 0) as receita_itens
        from {{ ref('stg_itens_pedidos') }} as i
        inner join {{ ref('stg_pedidos') }} as p on p.id_pedido = i.id_pedido
    ) as s
where f.receita_fato <> s.receita_itens
