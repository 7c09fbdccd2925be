-- Home addresses (one current address per customer).
select
    cast(id_pessoa as bigint)     as id_pessoa,
    cast(uf as char(2))           as uf_residencia,
    cast(cidade as text)          as cidade,
    cast(geohash as text)         as geohash_residencia,
    cast(created_at as timestamp) as created_at,
    cast(updated_at as timestamp) as updated_at,
    _loaded_at                    as loaded_at
from {{ source('raw', 'enderecos') }}
