-- Customers, renamed and typed. One row per customer (the raw mirror's current state).
select
    cast(id as bigint)            as id_pessoa,
    cast(nome as text)            as nome,
    cast(sexo as char(1))         as sexo,
    cast(dt_nasc as date)         as dt_nasc,
    cast(created_at as timestamp) as created_at,
    cast(updated_at as timestamp) as updated_at,
    _loaded_at                    as loaded_at
from {{ source('raw', 'pessoas') }}
