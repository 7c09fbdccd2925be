select
    cast(id_pedido as integer)       as id_pedido,
    cast(tipo_fraude as text)        as tipo_fraude,
    cast(confirmada_em as timestamp) as confirmada_em,
    cast(created_at as timestamp)    as criado_em,
    cast(updated_at as timestamp)    as atualizado_em,
    _loaded_at                       as carregado_em
from {{ source('raw', 'fraudes_confirmadas') }}
