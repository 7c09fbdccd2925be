-- Liga Sudoers: the shop's transactional model in third normal form.
-- Idempotent: safe to run on every `jornada db init` / `stack up`.
-- Table and column names stay Portuguese, as in the original course (glossary in lesson 01).

-- Every table carries created_at/updated_at; one trigger keeps updated_at honest on UPDATE.
create or replace function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end $$;

create table if not exists pessoas (
    -- The original keys customers by an 11-digit CPF-like number; ours has valid check digits.
    id          bigint primary key check (id between 1000000000 and 99999999999),
    nome        text        not null check (length(trim(nome)) > 0),
    sexo        char(1)     not null check (sexo in ('M', 'F')),
    dt_nasc     date        not null check (dt_nasc > date '1900-01-01'),
    created_at  timestamp   not null default now(),
    updated_at  timestamp   not null default now()
);

-- Added to the original model: where a customer lives. One current address per customer, so
-- it gets its own table keyed by the customer (moving house updates one row, not the person).
create table if not exists enderecos (
    id_pessoa   bigint primary key references pessoas (id) on delete cascade,
    uf          char(2)     not null check (uf ~ '^[A-Z]{2}$'),
    cidade      text        not null,
    geohash     varchar(12) not null check (geohash ~ '^[0-9b-hjkmnp-z]{6,12}$'),
    created_at  timestamp   not null default now(),
    updated_at  timestamp   not null default now()
);

create table if not exists categorias (
    id          serial primary key,
    descricao   text        not null unique,
    created_at  timestamp   not null default now(),
    updated_at  timestamp   not null default now()
);

create table if not exists produtos (
    id            serial primary key,
    id_categoria  integer       not null references categorias (id),
    descricao     text          not null,
    valor_unit    numeric(10,2) not null check (valor_unit >= 0),
    created_at    timestamp     not null default now(),
    updated_at    timestamp     not null default now(),
    unique (id_categoria, descricao)
);

create table if not exists pedidos (
    id           serial primary key,
    id_pessoa    bigint        not null references pessoas (id),
    dt_venda     timestamp     not null,
    -- Derived from the items, kept because the original's reports read it (lesson 01 discusses
    -- why a stored total is a deliberate, controlled exception to 3NF).
    valor_total  numeric(10,2) not null check (valor_total >= 0),
    created_at   timestamp     not null default now(),
    updated_at   timestamp     not null default now()
);

create table if not exists itens_pedidos (
    id_pedido    integer       not null references pedidos (id) on delete cascade,
    id_produto   integer       not null references produtos (id),
    qtde         integer       not null check (qtde > 0),
    -- Price at the time of sale: the catalogue price may change later.
    valor_unit   numeric(10,2) not null check (valor_unit >= 0),
    valor_total  numeric(10,2) not null check (valor_total >= 0),
    created_at   timestamp     not null default now(),
    updated_at   timestamp     not null default now(),
    primary key (id_pedido, id_produto)
);

create table if not exists auditoria_pedidos (
    id_pedido    integer     primary key references pedidos (id) on delete cascade,
    dispositivo  text        not null,
    geohash      varchar(12) not null check (geohash ~ '^[0-9b-hjkmnp-z]{6,12}$'),
    telefone     text        not null,
    created_at   timestamp   not null default now(),
    updated_at   timestamp   not null default now()
);

-- Ground truth, added to the original model: confirmed frauds (chargebacks). In real life they
-- arrive weeks after the sale; fraud rules must never read this table, only evaluations do.
create table if not exists fraudes_confirmadas (
    id_pedido      integer     primary key references pedidos (id) on delete cascade,
    tipo_fraude    text        not null check (tipo_fraude in ('localizacao', 'dispositivo', 'conta_invadida')),
    confirmada_em  timestamp   not null,
    created_at     timestamp   not null default now(),
    updated_at     timestamp   not null default now()
);

create index if not exists pedidos_id_pessoa_dt_venda_idx on pedidos (id_pessoa, dt_venda);
create index if not exists pedidos_dt_venda_idx on pedidos (dt_venda);
create index if not exists itens_pedidos_id_produto_idx on itens_pedidos (id_produto);
create index if not exists produtos_id_categoria_idx on produtos (id_categoria);

do $$
declare t text;
begin
    foreach t in array array['pessoas', 'enderecos', 'categorias', 'produtos', 'pedidos',
                             'itens_pedidos', 'auditoria_pedidos', 'fraudes_confirmadas'] loop
        execute format('create or replace trigger %I_updated_at before update on %I
                        for each row execute function set_updated_at()', t, t);
    end loop;
end $$;
