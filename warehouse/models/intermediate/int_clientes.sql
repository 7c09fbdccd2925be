-- A customer as the business sees them: person + home address. This is what the SCD2 snapshot
-- (snapshots/snap_clientes.yml) versions: a change of name OR a move to another city/state makes
-- a new version. atualizado_em = the later of the two rows' OLTP update times.
select
    p.id_pessoa,
    p.nome,
    p.sexo,
    p.dt_nasc,
    e.uf_residencia,
    e.cidade,
    p.criado_em,
    greatest(p.atualizado_em, coalesce(e.atualizado_em, p.atualizado_em)) as atualizado_em,
    -- when the loader brought this state in (kept in each snapshot version: fato_pedidos uses it
    -- to re-key orders when a customer change reaches the warehouse late)
    greatest(p.carregado_em, coalesce(e.carregado_em, p.carregado_em))   as carregado_em
from {{ ref('stg_pessoas') }} p
left join {{ ref('stg_enderecos') }} e on e.id_pessoa = p.id_pessoa
