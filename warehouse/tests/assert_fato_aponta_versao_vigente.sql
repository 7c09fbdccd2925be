-- SCD2 + fact: each fact row points at the customer version that was valid when the order was
-- placed (valid_from ≤ dt_venda < valid_to). Catches a fact keyed before a customer change
-- reached the warehouse and never re-keyed.
select
    f.id_pedido,
    f.id_produto,
    f.dt_venda,
    d.valid_from,
    d.valid_to
from {{ ref('fato_pedidos') }} as f
inner join {{ ref('dim_pessoas') }} as d on d.sk_pessoa = f.sk_pessoa
where
    not (f.dt_venda >= d.valid_from and f.dt_venda < d.valid_to)
    or d.id_pessoa <> f.id_pessoa
