-- Product dimension with its category flattened in (a star, not a snowflake). Type 1: a
-- renamed product or category is overwritten; the price paid lives in the fact (valor_unit).
select
    {{ surrogate_key(['p.id_produto']) }} as sk_produto,
    p.id_produto,
    p.produto,
    p.id_categoria,
    c.categoria,
    p.preco_atual
from {{ ref('stg_produtos') }} as p
inner join {{ ref('stg_categorias') }} as c on c.id_categoria = p.id_categoria
