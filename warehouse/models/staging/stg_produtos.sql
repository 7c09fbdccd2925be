select
    cast(id as integer)                as id_produto,
    cast(id_categoria as integer)      as id_categoria,
    cast(descricao as text)            as produto,
    cast(valor_unit as numeric(12, 2)) as preco_atual,
    cast(created_at as timestamp)      as created_at,
    cast(updated_at as timestamp)      as updated_at,
    _loaded_at                         as loaded_at
from {{ source('raw', 'produtos') }}
