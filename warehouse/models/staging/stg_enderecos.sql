-- Home addresses (one current address per customer).
select
    cast(id_pessoa as bigint)     as id_pessoa,
    cast(uf as char(2))           as uf_residencia,
    cast(cidade as text)          as cidade,
    cast(geohash as text)         as geohash_residencia,
    cast(created_at as timestamp) as criado_em,
    cast(updated_at as timestamp) as atualizado_em,
    _loaded_at                    as carregado_em
from {{ source('raw', 'enderecos') }}
