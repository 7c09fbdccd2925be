select
    cast(id as integer)                 as id_pedido,
    cast(id_pessoa as bigint)           as id_pessoa,
    cast(dt_venda as timestamp)         as dt_venda,
    cast(valor_total as numeric(12, 2)) as valor_total_pedido,
    cast(created_at as timestamp)       as created_at,
    cast(updated_at as timestamp)       as updated_at,
    _loaded_at                          as loaded_at
from {{ source('raw', 'pedidos') }}
