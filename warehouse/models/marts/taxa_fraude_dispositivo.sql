-- Fraud rate by device of the order (ground-truth labels), one row per device.
select
    f.dispositivo,
    count(distinct f.id_pedido)                                              as pedidos,
    count(distinct f.id_pedido) filter (where f.fraude_confirmada)           as fraudes,
    count(distinct f.id_pedido) filter (where f.tipo_fraude = 'dispositivo') as fraudes_dispositivo,
    round(
        count(distinct f.id_pedido) filter (where f.fraude_confirmada)::numeric
        / count(distinct f.id_pedido), 4
    )                                                                        as taxa_fraude
from {{ ref('fato_pedidos') }} as f
group by f.dispositivo
