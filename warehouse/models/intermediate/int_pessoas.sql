-- A customer as the business sees them: person + home address. This is what the SCD2 snapshot
-- (snapshots/snap_pessoas.yml) versions: a change of name OR a move to another city/state makes
-- a new version. updated_at = the later of the two rows' OLTP update times.
select
    p.id_pessoa,
    p.nome,
    p.sexo,
    p.dt_nasc,
    e.uf_residencia,
    e.cidade,
    p.created_at,
    greatest(p.updated_at, coalesce(e.updated_at, p.updated_at)) as updated_at,
    -- when the loader brought this state in (kept in each snapshot version: fato_pedidos uses it
    -- to re-key orders when a customer change reaches the warehouse late)
    greatest(p.loaded_at, coalesce(e.loaded_at, p.loaded_at))    as loaded_at
from {{ ref('stg_pessoas') }} as p
left join {{ ref('stg_enderecos') }} as e on e.id_pessoa = p.id_pessoa
