select
    cast(id_pedido as integer)          as id_pedido,
    cast(id_produto as integer)         as id_produto,
    cast(qtde as integer)               as qtde,
    cast(valor_unit as numeric(12, 2))  as valor_unit,
    cast(valor_total as numeric(12, 2)) as valor_total_item,
    cast(created_at as timestamp)       as created_at,
    cast(updated_at as timestamp)       as updated_at,
    _loaded_at                          as loaded_at
from {{ source('raw', 'itens_pedidos') }}
