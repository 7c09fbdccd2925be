-- Revenue by product category × month (from the star: fact + dim_produtos + dim_data).
select
    d.ano_mes,
    p.categoria,
    count(distinct f.id_pedido)                                             as pedidos,
    count(*)                                                                as itens,
    sum(f.qtde)                                                             as qtde,
    sum(f.valor_total_item)                                                 as receita,
    coalesce(sum(f.valor_total_item) filter (where f.fraude_confirmada), 0) as receita_fraude
from {{ ref('fato_pedidos') }} as f
inner join {{ ref('dim_produtos') }} as p on p.sk_produto = f.sk_produto
inner join {{ ref('dim_data') }} as d on d.sk_data = f.sk_data
group by d.ano_mes, p.categoria
