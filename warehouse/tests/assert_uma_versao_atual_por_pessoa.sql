-- SCD2 integrity: every customer still in the shop has exactly one current version, and no two
-- versions of a customer overlap in time.
select
    id_pessoa,
    'current versions: ' || count(*) filter (where is_current) as problem
from {{ ref('dim_pessoas') }}
where id_pessoa in (select s.id_pessoa from {{ ref('stg_pessoas') }} as s)
group by id_pessoa
having count(*) filter (where is_current) <> 1
union all
select
    a.id_pessoa,
    'overlapping versions' as problem
from {{ ref('dim_pessoas') }} as a
inner join {{ ref('dim_pessoas') }} as b
    on a.id_pessoa = b.id_pessoa and a.sk_pessoa < b.sk_pessoa
    and a.valid_from < b.valid_to and b.valid_from < a.valid_to
