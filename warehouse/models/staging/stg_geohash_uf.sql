-- geohash → UF lookup kept by the loader ('EX' = exterior: outside every Brazilian state).
select
    cast(geohash as text)               as geohash,
    cast(coalesce(uf, 'EX') as char(2)) as uf,
    resolved_at
from {{ source('raw', 'geohash_uf') }}
