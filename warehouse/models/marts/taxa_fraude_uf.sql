-- Fraud rate by the UF where the order was placed, measured on the ground-truth labels.
-- The fact is at ITEM grain: an order is counted once (count distinct), not once per item.
select
    f.uf_pedido                                                              as uf,
    count(distinct f.id_pedido)                                              as pedidos,
    count(distinct f.id_pedido) filter (where f.fraude_confirmada)           as fraudes,
    count(distinct f.id_pedido) filter (where f.tipo_fraude = 'localizacao') as fraudes_localizacao,
    count(distinct f.id_pedido) filter (where f.tipo_fraude = 'dispositivo') as fraudes_dispositivo,
    count(distinct f.id_pedido) filter (
        where f.tipo_fraude = 'conta_invadida'
    )                                                                        as fraudes_conta_invadida,
    round(
        count(distinct f.id_pedido) filter (where f.fraude_confirmada)::numeric
        / count(distinct f.id_pedido), 4
    )                                                                        as taxa_fraude,
    sum(f.valor_total_item)                                                  as receita
from {{ ref('fato_pedidos') }} as f
group by f.uf_pedido
