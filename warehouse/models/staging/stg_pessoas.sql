-- Customers, renamed and typed. One row per customer (the raw mirror's current state).
select
    cast(id as bigint)            as id_pessoa,
    cast(nome as text)            as nome,
    cast(sexo as char(1))         as sexo,
    cast(dt_nasc as date)         as dt_nasc,
    cast(created_at as timestamp) as criado_em,
    cast(updated_at as timestamp) as atualizado_em,
    _loaded_at                    as carregado_em
from {{ source('raw', 'pessoas') }}
