select
    cast(id as integer)           as id_categoria,
    cast(descricao as text)       as categoria,
    cast(created_at as timestamp) as created_at,
    cast(updated_at as timestamp) as updated_at,
    _loaded_at                    as loaded_at
from {{ source('raw', 'categorias') }}
