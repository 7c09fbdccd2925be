-- Customer dimension, SCD type 2: one row per VERSION of a customer.
--   valid_from ≤ t < valid_to  ⇔  the version that was true at instant t.
-- The first version is open towards the past (valid_from = 1900-01-01): the snapshot only
-- starts when the warehouse first saw the customer, but older facts must still find a version —
-- back-filled history can even predate the customer's created_at (a customer the stream created
-- today gets history orders from months ago). The original course inserted a new surrogate key
-- on every change with no validity columns, so joining facts to it fanned out; here exactly one
-- version matches any instant.
with versions as (
    select
        *,
        row_number() over (partition by id_pessoa order by dbt_valid_from) as version
    from {{ ref('snap_pessoas') }}
)

select
    {{ surrogate_key(['id_pessoa', 'dbt_valid_from']) }}                               as sk_pessoa,
    id_pessoa,
    nome,
    sexo,
    dt_nasc,
    uf_residencia,
    cidade,
    version,
    case when version = 1 then cast('1900-01-01' as timestamp) else dbt_valid_from end as valid_from,
    dbt_valid_to                                                                       as valid_to,
    (dbt_valid_to = cast('9999-12-31' as timestamp))                                   as is_current,
    loaded_at
from versions
