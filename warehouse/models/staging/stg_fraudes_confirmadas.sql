select
    cast(id_pedido as integer)       as id_pedido,
    cast(tipo_fraude as text)        as tipo_fraude,
    cast(confirmada_em as timestamp) as confirmada_em,
    cast(created_at as timestamp)    as created_at,
    cast(updated_at as timestamp)    as updated_at,
    _loaded_at                       as loaded_at
from {{ source('raw', 'fraudes_confirmadas') }}
