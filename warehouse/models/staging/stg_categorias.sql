select
    cast(id as integer)           as id_categoria,
    cast(descricao as text)       as categoria,
    cast(created_at as timestamp) as criado_em,
    cast(updated_at as timestamp) as atualizado_em,
    _loaded_at                    as carregado_em
from {{ source('raw', 'categorias') }}
