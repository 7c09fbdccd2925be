select
    cast(id_pedido as integer)    as id_pedido,
    cast(dispositivo as text)     as dispositivo,
    cast(geohash as text)         as geohash,
    cast(telefone as text)        as telefone,
    cast(created_at as timestamp) as criado_em,
    cast(updated_at as timestamp) as atualizado_em,
    _loaded_at                    as carregado_em
from {{ source('raw', 'auditoria_pedidos') }}
