-- Date dimension: every day of every year that has orders (the original designed one and
-- never built it). Names in Portuguese without relying on the server's locale.
with bounds as (
    select
        cast(date_trunc('year', coalesce(min(dt_venda), current_date)) as date) as first_day,
        cast(
            date_trunc('year', coalesce(max(dt_venda), current_date))
            + interval '1 year - 1 day' as date
        )                                                                       as last_day
    from {{ ref('stg_pedidos') }}
),

days as (
    select cast(series.day_ts as date) as data
    from bounds
    cross join generate_series(bounds.first_day, bounds.last_day, interval '1 day') as series (day_ts)
)

select
    cast(to_char(data, 'YYYYMMDD') as integer)  as sk_data,
    data,
    cast(extract(year from data) as integer)    as ano,
    cast(extract(quarter from data) as integer) as trimestre,
    cast(extract(month from data) as integer)   as mes,
    to_char(data, 'YYYY-MM')                    as ano_mes,
    (array[
        'janeiro', 'fevereiro', 'março', 'abril', 'maio', 'junho', 'julho', 'agosto',
        'setembro', 'outubro', 'novembro', 'dezembro'
    ])[extract(month from data)]                as nome_mes,
    cast(extract(day from data) as integer)     as dia,
    cast(extract(isodow from data) as integer)  as dia_semana_iso,
    (array[
        'segunda', 'terça', 'quarta', 'quinta', 'sexta', 'sábado', 'domingo'
    ])[extract(isodow from data)]               as nome_dia_semana,
    cast(extract(week from data) as integer)    as semana_iso,
    extract(isodow from data) in (6, 7)         as fim_de_semana
from days
