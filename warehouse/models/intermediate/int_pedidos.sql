-- Order grain: header + audit row + UF of the order's geohash + fraud label.
select
    p.id_pedido,
    p.id_pessoa,
    p.dt_venda,
    p.valor_total_pedido,
    a.dispositivo,
    a.geohash,
    g.uf                                            as uf_pedido,
    (f.id_pedido is not null)                       as fraude_confirmada,
    f.tipo_fraude,
    -- the newest load of anything this order depends on (drives the incremental fact)
    greatest(p.loaded_at, a.loaded_at, f.loaded_at) as loaded_at
from {{ ref('stg_pedidos') }} as p
left join {{ ref('stg_auditoria_pedidos') }} as a on a.id_pedido = p.id_pedido
left join {{ ref('stg_geohash_uf') }} as g on g.geohash = a.geohash
left join {{ ref('stg_fraudes_confirmadas') }} as f on f.id_pedido = p.id_pedido
