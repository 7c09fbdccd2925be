select
    cast(id_pedido as integer)    as id_pedido,
    cast(dispositivo as text)     as dispositivo,
    cast(geohash as text)         as geohash,
    cast(telefone as text)        as telefone,
    cast(created_at as timestamp) as created_at,
    cast(updated_at as timestamp) as updated_at,
    _loaded_at                    as loaded_at
from {{ source('raw', 'auditoria_pedidos') }}
