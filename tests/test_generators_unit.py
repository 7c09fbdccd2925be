"""Generators, catalogue and fraud rules without a database (pure, fast)."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from jornada import catalog, fraud, geo
from jornada import generators as g

pytestmark = pytest.mark.unit

NOW = datetime(2025, 6, 1, 12, 0, 0)
HOME = {"SP", "MG", "RJ"}


def frame_hash(df: pd.DataFrame) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(",".join(df.columns).encode())
    h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return g.generate_customers(1_500, seed=3, now=NOW)


@pytest.fixture(scope="module")
def history(customers) -> dict[str, pd.DataFrame]:
    return g.generate_history(customers, g.catalogue_products(), 30_000, seed=3, now=NOW,
                              fraud_rate=0.01, max_days=180)


@pytest.fixture(scope="module")
def orders(history) -> pd.DataFrame:
    """The history in the shape fraud.load_orders returns."""
    return (history["pedidos"].rename(columns={"id": "id_pedido"})
            .merge(history["auditoria_pedidos"].drop(columns="dt_venda"), on="id_pedido")
            [["id_pedido", "id_pessoa", "dt_venda", "dispositivo", "geohash"]])


# ---- validation ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"count": 0}, "count must be positive"),
    ({"count": -5}, "count must be positive"),
    ({"count": 2.5}, "whole number"),
    ({"count": True}, "whole number"),
    ({"count": 10**9}, "too large"),
    ({"fraud_rate": -0.1}, "between 0 and 1"),
    ({"fraud_rate": 1.5}, "between 0 and 1"),
    ({"fraud_rate": float("nan")}, "between 0 and 1"),
    ({"fraud_rate": "5%"}, "between 0 and 1"),
    ({"rate": 0}, "rate must be a positive"),
    ({"rate": -3}, "rate must be a positive"),
    ({"rate": float("inf")}, "rate must be a positive"),
    ({"duration": 0}, "duration must be a positive"),
    ({"max_days": 0}, "max_days must be between"),
    ({"max_days": 1.5}, "max_days must be a whole"),
    ({"new_customer_share": 1.2}, "new customer share"),
])
def test_validate_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        g.validate(**kwargs)


@pytest.mark.parametrize("kwargs", [
    {}, {"count": 1, "rate": 0.5, "fraud_rate": 0, "duration": 0.1, "max_days": 1, "new_customer_share": 1},
    {"fraud_rate": 1}, {"count": g.MAX_COUNT}])
def test_validate_accepts_good_parameters(kwargs):
    assert g.validate(**kwargs) is None  # returns quietly: no ValueError


def test_validate_rejects_just_beyond_the_bounds():
    for kwargs in ({"count": g.MAX_COUNT + 1}, {"fraud_rate": 1.0001}, {"count": 0}):
        with pytest.raises(ValueError):
            g.validate(**kwargs)


def test_profiles():
    assert g.resolve_profile("tiny") == {"customers": 200, "orders": 2_000}
    assert g.resolve_profile("full")["orders"] == 1_000_000
    with pytest.raises(ValueError) as err:
        g.resolve_profile("x")
    assert str(err.value) == "unknown profile 'x': choose one of tiny, course, full"


def test_pure_generators_validate_too(customers):
    with pytest.raises(ValueError, match="no customers"):
        g.generate_history(customers.iloc[:0], g.catalogue_products(), 10, seed=1, now=NOW)
    with pytest.raises(ValueError):
        g.generate_history(customers, g.catalogue_products(), 10, seed=1, now=NOW, fraud_rate=2)


# ---- catalogue -----------------------------------------------------------------------------

def test_catalogue_shape():
    assert catalog.CATEGORIAS == ["Moda Masculina", "Moda Feminina", "Moda Infantil", "Tecnologia",
                                  "Veículos", "Construção", "Brinquedos", "Supermercado", "Pet"]
    assert len(catalog.PRODUTOS) == 180
    per_cat = pd.Series([c for c, _, _ in catalog.PRODUTOS]).value_counts()
    assert set(per_cat.index) == set(catalog.CATEGORIAS) and (per_cat == 20).all()
    # products are listed category by category, in category id order
    assert [c for c, _, _ in catalog.PRODUTOS][::20] == catalog.CATEGORIAS
    assert len({(c, d) for c, d, _ in catalog.PRODUTOS}) == 180
    for _, desc, price in catalog.PRODUTOS:
        assert isinstance(price, Decimal) and Decimal("0.5") < price < Decimal("99999999.99")
        assert price == price.quantize(Decimal("0.01")) and desc.strip() == desc
    assert isinstance(catalog.CATALOGUE_CREATED_AT, datetime)


def test_profiles_cover_every_category_and_band():
    covered = {c for cats in catalog.PERFIS.values() for c in cats}
    assert covered == set(catalog.CATEGORIAS)
    assert set(catalog.PERFIS) == {(s, b) for s in "MF" for _, _, b in catalog.AGE_BANDS}
    assert catalog.age_band(18) == "18-25" and catalog.age_band(25) == "18-25"
    assert catalog.age_band(26) == "26-40" and catalog.age_band(60) == "41-60"
    assert catalog.age_band(61) == "61+" and catalog.age_band(99) == "61+"


def test_places_are_where_they_claim():
    for city in catalog.HOME_CITIES:
        assert city.uf in HOME
        assert geo.state_of_geohash(geo.encode(city.lat, city.lon)) == city.uf, city
    assert {c.uf for c in catalog.HOME_CITIES} == HOME
    for uf in HOME:
        assert sum(c.uf == uf for c in catalog.HOME_CITIES) >= 8
    for place in catalog.FRAUD_PLACES:
        assert geo.state_of_geohash(geo.encode(place.lat, place.lon)) == place.uf, place
        assert place.uf not in HOME
    names = " ".join(p.nome for p in catalog.FRAUD_PLACES)
    for must in ("Vitória", "Cuiabá", "Curitiba", "Salvador", "Brasília", "Goiânia", "Lima",
                 "Buenos Aires", "Assunção", "Miami", "Pacífico"):
        assert must in names
    assert len(set(catalog.DISPOSITIVOS)) == len(catalog.DISPOSITIVOS) >= 15


def test_seed_customers():
    assert len(catalog.SEED_PESSOAS) == 20
    assert len({p["id"] for p in catalog.SEED_PESSOAS}) == 20
    for p in catalog.SEED_PESSOAS:
        assert g.is_valid_cpf(p["id"]) and 1_000_000_000 <= p["id"] <= 99_999_999_999
        assert p["sexo"] in ("M", "F") and isinstance(p["dt_nasc"], date)
        assert len(p["geohash"]) == 7 and geo.state_of_geohash(p["geohash"]) == p["uf"]
        assert p["cidade"] in {c.nome for c in catalog.HOME_CITIES if c.uf == p["uf"]}
    assert {p["uf"] for p in catalog.SEED_PESSOAS} == HOME


# ---- CPF -----------------------------------------------------------------------------------

def test_cpf_check_digits():
    assert g.cpf_from_base(123456789) == 12345678909          # the textbook example
    assert g.cpf_from_base(111444777) == 11144477735
    assert list(g.cpf_from_base(np.array([123456789, 111444777]))) == [12345678909, 11144477735]
    assert g.is_valid_cpf("123.456.789-09") and g.is_valid_cpf(12345678909)
    assert not g.is_valid_cpf(12345678900)
    assert not g.is_valid_cpf(11111111111)                     # all one digit: invalid
    assert g.format_cpf(12345678909) == "123.456.789-09"


def test_new_ids_are_valid_distinct_deterministic_and_skip_existing():
    ids = g.new_customer_ids(5_000, seed=9)
    assert len(set(ids.tolist())) == 5_000
    assert all(g.is_valid_cpf(int(i)) for i in ids[:500])
    assert ids.min() >= 1_000_000_000 and ids.max() <= 99_999_999_999
    assert (g.new_customer_ids(5_000, seed=9) == ids).all()
    assert not (g.new_customer_ids(5_000, seed=10) == ids).all()
    # skipping collisions: the taken ids are left out and the rest keeps its order
    taken = ids[:100]
    again = g.new_customer_ids(4_900, seed=9, exclude=taken)
    assert not set(again.tolist()) & set(taken.tolist())
    assert (again == ids[100:]).all()


# ---- customers -----------------------------------------------------------------------------

def test_customers_are_deterministic(customers):
    again = g.generate_customers(1_500, seed=3, now=NOW)
    assert frame_hash(again) == frame_hash(customers)
    assert frame_hash(g.generate_customers(1_500, seed=4, now=NOW)) != frame_hash(customers)


def test_customer_attributes(customers):
    from faker.providers.person.pt_BR import Provider

    assert customers["id"].is_unique and len(customers) == 1_500
    assert customers["id"].map(g.is_valid_cpf).all()
    male, female = set(Provider.first_names_male), set(Provider.first_names_female)
    for nome, sexo in zip(customers["nome"], customers["sexo"]):
        first_names = male if sexo == "M" else female
        assert any(nome.startswith(f + " ") for f in first_names), (nome, sexo)
        assert not nome.startswith(("Sr.", "Sra.", "Srta.", "Dr.", "Dra."))
    assert 0.42 < (customers["sexo"] == "F").mean() < 0.60
    age = g._age_at(pd.to_datetime(customers["dt_nasc"]).to_numpy(),
                    np.full(len(customers), np.datetime64(NOW, "s")))
    assert age.min() >= 18 and age.max() <= 85
    # homes: in the drawn state, in a city of that state, within the city's radius
    assert set(customers["uf"]) == HOME
    assert (geo.states_of_geohash(customers["geohash"]) == customers["uf"].to_numpy()).all()
    assert customers["geohash"].str.len().eq(7).all()
    assert (customers["created_at"] < NOW - timedelta(days=180)).all()


def test_second_batch_is_not_a_copy_of_the_first(customers):
    more = g.generate_customers(200, seed=3, now=NOW, exclude_ids=customers["id"])
    assert not set(more["id"]) & set(customers["id"])
    assert list(more["nome"][:20]) != list(customers["nome"][:20])


# ---- history -------------------------------------------------------------------------------

def test_history_is_deterministic(customers, history):
    produtos = g.catalogue_products()
    again = g.generate_history(customers, produtos, 30_000, seed=3, now=NOW)
    for name, df in history.items():
        assert frame_hash(again[name]) == frame_hash(df), name
    other = g.generate_history(customers, produtos, 30_000, seed=4, now=NOW)
    assert frame_hash(other["pedidos"]) != frame_hash(history["pedidos"])
    later = g.generate_history(customers, produtos, 30_000, seed=3,
                               now=NOW + timedelta(days=1))
    assert frame_hash(later["pedidos"]) != frame_hash(history["pedidos"])
    # customer order in the input does not matter (they are read ordered by id)
    shuffled = customers.sample(frac=1, random_state=0)
    assert frame_hash(g.generate_history(shuffled, produtos, 30_000, seed=3, now=NOW)
                      ["itens_pedidos"]) == frame_hash(history["itens_pedidos"])


# Golden output: hashes of what main produced (commit 64ad9ef) before the generators were
# vectorised (issue 7 §6), re-taken once when issue 10 §1 changed WHAT is generated (travellers,
# phone changes, account takeovers, a daily rhythm; the customers did not move). The course
# promises same seed + same `now` ⇒ same rows, so a rewrite of the internals must not move a
# single byte: neither in the frames nor in the COPY text that load_history sends to Postgres. (A pandas upgrade that changes to_csv's formatting of the frames
# would need new frame hashes; the COPY hashes don't depend on that.)
GOLDEN = {
    "customers": "63aa47b1ed5376f712b4889784822361747618a3ceb6a217f1118e7e9d13030a",
    "pedidos": "ea1f2e6eb6168c0cff3b49097b1e63f648db2df8950f02d415715edcaae4e3ee",
    "itens_pedidos": "6bbe80689e9efafd24e0b7f94081b70e23fbc86d6e4e4a7e5e74a4b502c7bd22",
    "auditoria_pedidos": "78c91a753e5e1972fd1b982f34df666c3734cb42d1ac83f1734c670615c06c82",
    "fraudes_confirmadas": "184e0aa86d6bb09502af902e516b6ee1a735b825a97bfbbc04ff851b7f05c09a",
    "copy_first_1": "6b0274b1be3b259480416500a6af0d9bf6abc5c28b555248ae79001619a698c8",
    "copy_first_987654": "2407a1d2bdea6f544eceb5187ca5bc7c956ed18f4ac5f414819b93486f725e8e",
    # 700 customers, seed 11; 5,000 orders, half of them frauds, over 30 days
    "customers_s11": "43436144eb9a866923184d8d022312da2929e05a4d8f677f711cdf1664f20f57",
    "copy_s11": "7cbb4d32c66c6d230ec9c2c374d93bfc1972dae209f3346383da1b493e95e5a5",
}


def strict_hash(df: pd.DataFrame) -> str:
    """Column names, dtypes and every value as CSV text (exact, unlike frame_hash's astype(str))."""
    import hashlib

    h = hashlib.sha256()
    h.update(repr([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(df.to_csv(index=False).encode())
    return h.hexdigest()


class _CopyCapture:
    """Stands in for a psycopg cursor: records the COPY statements and the data written."""

    def __init__(self):
        self.parts: list[str] = []

    def copy(self, sql):
        from contextlib import contextmanager

        @contextmanager
        def cm():
            self.parts.append(sql + "\n")
            yield self

        return cm()

    def write(self, data):
        self.parts.append(data if isinstance(data, str) else bytes(data).decode())


def copy_hash(data: dict[str, pd.DataFrame], first: int) -> str:
    """Hash of the COPY text load_history sends for ``data`` with order ids from ``first``."""
    import hashlib

    cap = _CopyCapture()
    for table, df in data.items():
        g._copy_df(cap, table, df, fmt=g._HISTORY_FORMAT[table](first))
    return hashlib.sha256("".join(cap.parts).encode()).hexdigest()


def test_output_is_byte_identical_to_before_vectorising(customers, history):
    assert strict_hash(customers) == GOLDEN["customers"]
    for name, df in history.items():
        assert strict_hash(df) == GOLDEN[name], name
    assert copy_hash(history, 1) == GOLDEN["copy_first_1"]
    assert copy_hash(history, 987_654) == GOLDEN["copy_first_987654"]
    other = g.generate_customers(700, seed=11, now=NOW)
    assert strict_hash(other) == GOLDEN["customers_s11"]
    frauds = g.generate_history(other, g.catalogue_products(), 5_000, seed=11, now=NOW,
                                fraud_rate=0.5, max_days=30)
    assert copy_hash(frauds, 42) == GOLDEN["copy_s11"]


def test_copy_text_pieces_equal_the_reference_formatting():
    """The vectorised COPY formatters against what they replace: str(int), the old pandas
    money formula, np.datetime_as_string and DataFrame.to_csv."""
    rng = np.random.default_rng(4)
    ints = np.r_[rng.integers(-10**12, 10**12, 5000), rng.integers(0, 10_000, 500),
                 10 ** np.arange(19), 10 ** np.arange(19) - 1, -(10 ** np.arange(19)),
                 np.iinfo(np.int64).max, np.iinfo(np.int64).min + 1, 0, -1]
    assert g._digits(ints).tolist() == [str(i).encode() for i in ints.tolist()]
    assert g._digits(np.arange(10_000)).tolist() == [str(i).encode() for i in range(10_000)]
    assert g._digits([np.iinfo(np.int64).min]).tolist() == [str(np.iinfo(np.int64).min).encode()]

    cents = np.r_[rng.integers(0, 10**10, 5000), 0, 1, 9, 10, 99, 100, 101, 199, -1, -100, -150]
    c = pd.Series(cents)
    old = (c // 100).astype(str) + "." + (c % 100).astype(str).str.zfill(2)
    assert g._money(cents).tolist() == [m.encode() for m in old]

    us = np.r_[rng.integers(int(np.datetime64("1000-01-01", "us").astype(np.int64)),
                            int(np.datetime64("9999-12-31T23:59:59.999999", "us").astype(np.int64)),
                            20_000),
               np.array(["1000-01-01", "1969-12-31T23:59:59.999999", "1970-01-01", "1900-02-28",
                         "1900-03-01", "2000-02-29T12:00:00.5", "2024-02-29T23:59:59",
                         "2100-03-01", "9999-12-31T23:59:59.999999"],
                        dtype="datetime64[us]").astype(np.int64)]
    when = us.astype("datetime64[us]")
    assert g._ts_bytes(when).tolist() == [t.encode() for t in g._ts(when)]
    odd = np.array(["0999-12-31T23:59:59", "NaT", "2025-06-01", "10000-01-01"],
                   dtype="datetime64[us]")  # outside the fast path: same text anyway
    assert g._ts_bytes(odd).tolist() == [t.encode() for t in g._ts(odd)]
    assert g._ts_bytes(np.array(["2025-06-01T12:00:00"], dtype="datetime64[s]")).tolist() == \
        [b"2025-06-01T12:00:00.000000"]

    texts = np.array(["plain", "with, comma", 'say "hi"', "two\nlines", "cr\r", "", "São Paulo",
                      '"', ",", "ok"] * 3, dtype=object)
    frame = {"n": np.arange(30) * 7919 - 100, "t": texts, "u": texts[::-1].astype(str),
             "b": g._money(np.arange(30) * 1001)}
    reference = pd.DataFrame({"n": frame["n"], "t": texts, "u": texts[::-1],
                              "b": [b.decode() for b in frame["b"].tolist()]})
    assert g._csv_text(frame).decode() == reference.to_csv(header=False, index=False)
    lone = {"t": np.array(["", "a", ""], dtype=object)}
    assert g._csv_text(lone).decode() == pd.DataFrame(lone).to_csv(header=False, index=False)
    with pytest.raises(TypeError, match="str values only"):
        g._csv_text({"t": np.array(["a", None], dtype=object)})
    with pytest.raises(ValueError, match="NUL"):
        g._csv_text({"t": np.array(["a\0"], dtype=object)})
    with pytest.raises(TypeError, match="float64"):
        g._csv_text({"x": np.array([1.5])})


def test_history_dates_ids_and_totals(history):
    p, i = history["pedidos"], history["itens_pedidos"]
    assert p["id"].tolist() == list(range(1, len(p) + 1))
    assert p["dt_venda"].is_monotonic_increasing                    # ids follow time
    assert p["dt_venda"].max() <= NOW - timedelta(days=1)
    assert p["dt_venda"].min() >= NOW - timedelta(days=180)
    assert (p["dt_venda"].dt.microsecond == 0).all()
    sums = i.groupby("id_pedido")["valor_total_cents"].sum()
    assert (sums.reindex(p["id"]).to_numpy() == p["valor_total_cents"].to_numpy()).all()
    assert (i["valor_total_cents"] == i["qtde"] * i["valor_unit_cents"]).all()
    per_order = i.groupby("id_pedido").size()
    assert per_order.min() == 1 and per_order.max() == 5 and len(per_order) == len(p)
    assert not i.duplicated(["id_pedido", "id_produto"]).any()      # distinct items
    assert i["qtde"].between(1, 3).all()
    prices = g.catalogue_products().set_index("id")["cents"]
    assert (i["valor_unit_cents"].to_numpy() == prices.reindex(i["id_produto"]).to_numpy()).all()
    assert len(history["auditoria_pedidos"]) == len(p)
    assert history["auditoria_pedidos"]["id_pedido"].is_unique


def test_products_follow_the_profile(customers, history):
    p, i = history["pedidos"], history["itens_pedidos"]
    c = customers.set_index("id")
    o = p.join(c[["sexo", "dt_nasc"]], on="id_pessoa")
    age = g._age_at(pd.to_datetime(o["dt_nasc"]).to_numpy(), o["dt_venda"].to_numpy())
    o["band"] = [catalog.age_band(int(a)) for a in age]
    cat_of = {k + 1: cat for k, (cat, _, _) in enumerate(catalog.PRODUTOS)}
    allowed = {(r.id, cat) for r in o.itertuples()
               for cat in catalog.PERFIS[(r.sexo, r.band)]}
    # an account takeover buys what the fraudster wants, not what the profile would
    takeover = set(history["fraudes_confirmadas"].query("tipo_fraude == 'conta_invadida'")["id_pedido"])
    assert takeover
    assert all((oid, cat_of[pid]) in allowed for oid, pid in zip(i["id_pedido"], i["id_produto"])
               if oid not in takeover)
    # every category sells
    assert set(cat_of[x] for x in i["id_produto"].unique()) == set(catalog.CATEGORIAS)


def test_fraud_rate_and_split(history):
    f, n = history["fraudes_confirmadas"], len(history["pedidos"])
    assert 0.008 < len(f) / n < 0.012
    share = f["tipo_fraude"].value_counts(normalize=True)
    truth = g.DEFAULT_TRUTH
    # ~300 frauds: each share within a few points of its parameter
    assert share["localizacao"] == pytest.approx(truth.location, abs=0.08)
    assert share["dispositivo"] == pytest.approx(truth.device, abs=0.08)
    assert share["conta_invadida"] == pytest.approx(truth.takeover, abs=0.06)
    assert share["localizacao"] + share["dispositivo"] > 0.5     # the original's kinds: most
    d = f.merge(history["pedidos"], left_on="id_pedido", right_on="id")
    assert (d["confirmada_em"] > d["dt_venda"]).all() and (d["confirmada_em"] <= NOW).all()


def test_where_and_which_device(customers, history):
    a = history["auditoria_pedidos"].drop(columns="dt_venda").merge(
        history["pedidos"], left_on="id_pedido", right_on="id")
    a = a.merge(customers[["id", "uf"]], left_on="id_pessoa", right_on="id", suffixes=("", "_c"))
    kind = a["id_pedido"].map(history["fraudes_confirmadas"].set_index("id_pedido")["tipo_fraude"])
    state = pd.Series(geo.states_of_geohash(a["geohash"]), index=a.index)
    legit, loc, dev = kind.isna(), kind == "localizacao", kind == "dispositivo"
    tk = kind == "conta_invadida"
    travel = legit & (state != a["uf"])
    home = (legit & ~travel) | dev | tk
    # honest, device-fraud and takeover orders: near home, inside the home state — except the
    # honest travellers, a small share of the honest orders, all in another state of Brazil
    assert (state[home] == a["uf"][home]).all()
    assert 0.003 < travel.sum() / legit.sum() < 0.01
    assert (~state[travel].isin(HOME) & state[travel].notna()).all()
    # location fraud: outside SP/MG/RJ (another state, or None = abroad / at sea)
    assert (~state[loc].isin(HOME)).all() and state[loc].isna().any() and state[loc].notna().any()
    # the customer's own device: habitual, or the new phone after a legit change
    a = a.sort_values(["id_pessoa", "dt_venda", "id_pedido"])
    rank = a.groupby("id_pessoa").cumcount().to_numpy()
    own = pd.Series(g.current_device(a["id_pessoa"].to_numpy(), rank, g.DEFAULT_TRUTH.device_change),
                    index=a.index)
    mine = legit | loc | tk
    assert (a["dispositivo"][mine] == own[mine]).all()
    assert (a["dispositivo"][dev] != own[dev]).all()
    assert (a["dispositivo"][dev] == g.fraud_device(a["id_pessoa"][dev].to_numpy())).all()
    # a first order is never a device fraud
    first = a.sort_values(["id_pessoa", "dt_venda", "id_pedido"]).groupby("id_pessoa").head(1)
    assert not (kind[first.index] == "dispositivo").any()
    # legit orders stay within a few km of home
    near = legit & ~travel
    hl = customers.set_index("id")["geohash"].reindex(a["id_pessoa"][near])
    la1, lo1 = geo.decode_many(hl)
    la2, lo2 = geo.decode_many(a["geohash"][near])
    km = 111.32 * np.hypot(la2 - la1, (lo2 - lo1) * np.cos(np.radians(la1)))
    assert km.max() < g.ORDER_RADIUS_KM + 0.5
    # phones: one per customer, with the home city's DDD
    assert a.groupby("id_pessoa")["telefone"].nunique().max() == 1
    assert a["telefone"].str.fullmatch(r"\(\d\d\) 9\d{4}-\d{4}").all()


def test_returning_fraudsters_exist(history):
    """Some customers suffer device fraud twice with the same device (never_seen misses those)."""
    f = history["fraudes_confirmadas"]
    dev = f[f["tipo_fraude"] == "dispositivo"].merge(history["pedidos"], left_on="id_pedido",
                                                     right_on="id")
    assert (dev.groupby("id_pessoa").size() >= 2).sum() >= 5


def test_device_fraud_never_overtakes_the_habitual_device():
    rng = np.random.default_rng(0)
    cust = rng.integers(0, 50, size=5_000)          # few customers, many orders, lots of fraud
    kind, rank = g._choose_kinds(np.random.default_rng(1), cust, fraud_rate=0.6)
    for c in range(50):
        k = kind[cust == c]
        dev = np.cumsum(k == g.DEVICE)
        habitual_before = np.arange(k.size) - (dev - (k == g.DEVICE))
        assert (dev[k == g.DEVICE] <= habitual_before[k == g.DEVICE]).all()
        assert k.size == 0 or k[0] != g.DEVICE
        assert rank[cust == c].tolist() == list(range(k.size))   # chronological rank per customer


def test_per_customer_traits_are_stable():
    ids = np.array([12345678909, 11144477735, 60475606523])
    assert (g.habitual_device(ids) == g.habitual_device(ids.copy())).all()
    assert (g.habitual_device(ids) != g.fraud_device(ids)).all()
    assert list(g.phone_of(ids[:1], 31)) == list(g.phone_of(ids[:1], [31]))
    assert g.phone_of(ids[:1], 31)[0].startswith("(31) 9")
    many = np.arange(10_000, 30_000)
    assert (g.habitual_device(many) != g.fraud_device(many)).all()
    assert len(set(g.habitual_device(many))) == len(catalog.DISPOSITIVOS)
    # a legit new phone is neither the old one nor the fraudster's
    assert (g.new_device(many) != g.habitual_device(many)).all()
    assert (g.new_device(many) != g.fraud_device(many)).all()
    assert len(set(g.new_device(many))) == len(catalog.DISPOSITIVOS)


# ---- fraud rules ---------------------------------------------------------------------------

def _orders(rows):
    """Hand-made orders: (id_pedido, id_pessoa, day, device[, geohash])."""
    df = pd.DataFrame(rows, columns=["id_pedido", "id_pessoa", "day", "dispositivo"])
    df["dt_venda"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(df.pop("day"), unit="D")
    df["geohash"] = "6gyf4bf"
    return df


def test_device_variants_on_a_returning_fraudster():
    # customer 1 uses "A"; a fraudster uses "X" twice (orders 3 and 5); legit orders in between
    df = _orders([(1, 1, 1, "A"), (2, 1, 2, "A"), (3, 1, 3, "X"), (4, 1, 4, "A"),
                  (5, 1, 5, "X"), (6, 1, 6, "A")])
    habitual = fraud.device_flags(df, "habitual")
    previous = fraud.device_flags(df, "previous")
    never = fraud.device_flags(df, "never_seen")
    assert habitual.tolist() == [False, False, True, False, True, False]
    assert previous.tolist() == [False, False, True, True, True, True]    # double-counts
    assert never.tolist() == [False, False, True, False, False, False]   # misses the return
    assert habitual.index.tolist() == [1, 2, 3, 4, 5, 6]
    assert habitual.index.name == "id_pedido"


def test_previous_misses_consecutive_fraud():
    df = _orders([(1, 7, 1, "A"), (2, 7, 2, "A"), (3, 7, 3, "X"), (4, 7, 4, "X"),
                  (5, 7, 5, "A")])
    assert fraud.device_flags(df, "habitual").tolist() == [False, False, True, True, False]
    assert fraud.device_flags(df, "previous").tolist() == [False, False, True, False, True]
    assert fraud.device_flags(df, "never_seen").tolist() == [False, False, True, False, False]


def test_habitual_ties_keep_the_incumbent_and_first_orders_are_clean():
    df = _orders([
        (10, 1, 1, "A"), (11, 1, 2, "B"), (12, 1, 3, "A"),     # A=1,B=1 tie → A stays: no flag
        (13, 1, 4, "B"), (14, 1, 5, "B"), (15, 1, 6, "A"),     # B overtakes A (3 > 2) → A flagged
        (20, 2, 1, "Z"),                                        # first order: never flagged
    ])
    flags = fraud.device_flags(df, "habitual")
    assert flags.to_dict() == {10: False, 11: True, 12: False, 13: True, 14: True, 15: True,
                               20: False}
    # order 14: earlier A=2, B=2 — a tie again, A keeps the title, so B is still "different"


def test_device_rules_sort_by_time_and_keep_input_order():
    df = _orders([(3, 1, 3, "X"), (1, 1, 1, "A"), (2, 9, 1, "B"), (4, 1, 2, "A"),
                  (5, 9, 2, "B")])
    for variant in fraud.DEVICE_VARIANTS:
        flags = fraud.device_flags(df, variant)
        assert flags.index.tolist() == [3, 1, 2, 4, 5]
        assert flags.tolist() == [True, False, False, False, False]
    # same sale time: the id decides
    same = _orders([(2, 1, 1, "B"), (1, 1, 1, "A")])
    assert fraud.device_flags(same, "habitual").to_dict() == {2: True, 1: False}
    with pytest.raises(ValueError, match="habitual, previous, never_seen"):
        fraud.device_flags(df, "sometimes")
    assert fraud.device_flags(df.iloc[:0]).empty


def test_location_rule():
    df = _orders([(1, 1, 1, "A")] * 8)
    df["id_pedido"] = range(1, 9)
    df["geohash"] = [
        geo.encode(-23.55, -46.63),      # São Paulo
        geo.encode(-19.92, -43.94),      # Belo Horizonte
        geo.encode(-23.00, -43.37),      # Barra da Tijuca (outside the original's toy cells)
        geo.encode(-23.53, -46.79),      # Osasco
        geo.encode(-20.30, -40.33),      # Vitória (ES)
        geo.encode(-15.60, -56.10),      # Cuiabá (MT)
        "6m3p0000",                       # the Pacific off Peru (the original's cell)
        geo.encode(-12.05, -77.04).upper(),  # Lima, upper-case geohash
    ]
    assert fraud.location_flags(df).tolist() == [False] * 4 + [True] * 4


def test_rules_on_generated_history(orders, history):
    labels = history["fraudes_confirmadas"][["id_pedido", "tipo_fraude"]]
    flags = fraud.all_flags(orders)
    result = fraud.evaluate(flags, labels)
    # each rule still finds every fraud of its own kind…
    for rule in ("location", "device_habitual"):
        assert result.loc[rule, "recall"] == 1.0, result
    # …but honest travellers and phone changers make it raise false alarms
    assert 0.25 < result.loc["location", "precision"] < 0.75, result
    assert 0.2 < result.loc["device_habitual", "precision"] < 0.7, result
    # the other device readings miss returning fraudsters (and "previous" the first order after)
    assert result.loc["device_previous", "recall"] < 0.95
    assert result.loc["device_never_seen", "recall"] < 0.9
    # together the two rules miss every account takeover and nothing else
    both = {"rules_combined": flags["location"] | flags["device_habitual"]}
    table = fraud.confusion(both, labels).loc["rules_combined"]
    takeovers = int((labels["tipo_fraude"] == "conta_invadida").sum())
    assert takeovers > 20
    # (a takeover is only ever flagged when it is made on a changer's new phone before that
    # phone became habitual in the rule's eyes)
    assert table["missed_conta_invadida"] >= 0.9 * takeovers
    assert table["missed_localizacao"] == table["missed_dispositivo"] == 0
    assert table["false_neg"] == table["missed_conta_invadida"] and table["false_pos"] > 0
    assert table[["true_pos", "false_pos", "false_neg", "true_neg"]].sum() == len(orders)


# ---- ground truth that is not the rules (issue 10 §1) -----------------------------------------

def _labelled(customers, history) -> pd.DataFrame:
    """Orders with the label, the customer's home state, rank and the order's state."""
    a = (history["pedidos"].merge(history["auditoria_pedidos"].drop(columns="dt_venda"),
                                  left_on="id", right_on="id_pedido").drop(columns="id_pedido")
         .merge(customers[["id", "uf"]].rename(columns={"id": "id_pessoa"}), on="id_pessoa"))
    a["tipo"] = a["id"].map(history["fraudes_confirmadas"].set_index("id_pedido")["tipo_fraude"])
    a["state"] = geo.states_of_geohash(a["geohash"])
    a = a.sort_values(["id_pessoa", "dt_venda", "id"]).reset_index(drop=True)
    a["rank"] = a.groupby("id_pessoa").cumcount()
    return a


def test_travellers_are_honest_orders_from_another_state_on_the_habitual_device(customers, history):
    a = _labelled(customers, history)
    away = a[a["tipo"].isna() & (a["state"] != a["uf"])]
    assert len(away) > 50
    assert away["state"].notna().all() and not away["state"].isin(HOME).any()  # Brazil, not home
    own = g.current_device(away["id_pessoa"].to_numpy(), away["rank"].to_numpy(),
                           g.DEFAULT_TRUTH.device_change)
    assert (away["dispositivo"].to_numpy() == own).all()
    # the location rule flags every one of them: its false alarms
    assert fraud.location_flags(away.rename(columns={"id": "id_pedido"})).all()


def test_device_changers_switch_for_good_and_the_new_phone_becomes_habitual(customers, history):
    a = _labelled(customers, history)
    share = g.DEFAULT_TRUTH.device_change
    ids = customers["id"].to_numpy()
    after = g.device_change_after(ids, share)
    changers = ids[after < np.iinfo(np.int64).max]
    assert (len(changers) / len(ids)) == pytest.approx(share, abs=0.015)
    assert set(after[after < np.iinfo(np.int64).max]) <= set(range(2, 8))
    honest = a[a["tipo"].isna() & a["id_pessoa"].isin(changers)]
    k = pd.Series(after, index=ids).reindex(honest["id_pessoa"]).to_numpy()
    old = g.habitual_device(honest["id_pessoa"].to_numpy())
    new = g.new_device(honest["id_pessoa"].to_numpy())
    before = honest["rank"].to_numpy() < k
    assert (honest["dispositivo"].to_numpy()[before] == old[before]).all()
    assert (honest["dispositivo"].to_numpy()[~before] == new[~before]).all()
    assert (~before).sum() > 100          # many orders on new phones, none labelled fraud
    # the habitual-device rule flags the first new-phone orders, then stops: the new phone won
    flags = fraud.device_flags(a.rename(columns={"id": "id_pedido"}), "habitual")
    flagged = flags.reindex(honest["id"]).to_numpy()
    assert flagged[~before].any() and not flagged[~before].all()
    long = honest.groupby("id_pessoa")["rank"].transform("size").to_numpy() >= 2 * k + 2
    last = (honest["rank"].to_numpy() == honest.groupby("id_pessoa")["rank"].transform("max")
            .to_numpy())
    assert not flagged[last & long].any()


def test_account_takeovers_use_own_device_and_area_with_a_dear_basket_at_night(customers, history):
    a = _labelled(customers, history)
    tk = a[a["tipo"] == "conta_invadida"]
    assert len(tk) > 20
    assert (tk["state"] == tk["uf"]).all()                      # the customer's own state
    own = g.current_device(tk["id_pessoa"].to_numpy(), tk["rank"].to_numpy(),
                           g.DEFAULT_TRUTH.device_change)
    assert (tk["dispositivo"].to_numpy() == own).all()          # the customer's own device
    hour_brt = ((tk["dt_venda"] - pd.Timedelta(seconds=g.BRT_OFFSET_S)).dt.hour)
    assert hour_brt.between(*np.array(g.TAKEOVER_HOURS) - [0, 1]).mean() > 0.95
    honest = a[a["tipo"].isna()]
    legit_night = ((honest["dt_venda"] - pd.Timedelta(seconds=g.BRT_OFFSET_S)).dt.hour
                   .between(1, 4)).mean()
    assert legit_night < 0.05                                   # few honest orders at that hour
    assert tk["valor_total_cents"].median() > 5 * honest["valor_total_cents"].median()


def test_confirmations_arrive_days_later_for_every_kind(history):
    f = history["fraudes_confirmadas"].merge(history["pedidos"], left_on="id_pedido", right_on="id")
    lag = (f["confirmada_em"] - f["dt_venda"]).dt.total_seconds() / 86400
    for _, days in lag.groupby(f["tipo_fraude"]):
        assert days.min() > 0 and days.median() > 2


def test_shares_are_parameters(customers):
    produtos = g.catalogue_products()
    only_rules = g.GroundTruth(location=0.5, device=0.5, takeover=0.0, travel=0.0, device_change=0.0)
    h = g.generate_history(customers, produtos, 20_000, seed=5, now=NOW, truth=only_rules)
    assert set(h["fraudes_confirmadas"]["tipo_fraude"]) == {"localizacao", "dispositivo"}
    orders = (h["pedidos"].rename(columns={"id": "id_pedido"})
              .merge(h["auditoria_pedidos"].drop(columns="dt_venda"), on="id_pedido"))
    r = fraud.evaluate(fraud.all_flags(orders), h["fraudes_confirmadas"])
    # without the honest surprises the rules restate the labels (the original's world)
    assert r.loc["location", "precision"] == r.loc["location", "recall"] == 1.0
    assert r.loc["device_habitual", "precision"] == r.loc["device_habitual", "recall"] == 1.0
    many = g.GroundTruth(location=0.2, device=0.2, takeover=0.6)
    m = g.generate_history(customers, produtos, 20_000, seed=5, now=NOW, truth=many)
    share = m["fraudes_confirmadas"]["tipo_fraude"].value_counts(normalize=True)
    assert share["conta_invadida"] == pytest.approx(0.6, abs=0.08)
    assert 0.008 < len(m["fraudes_confirmadas"]) / 20_000 < 0.012
    with pytest.raises(ValueError, match="sum to 1"):
        g.GroundTruth(location=0.5, device=0.5, takeover=0.5)
    with pytest.raises(ValueError, match="travel"):
        g.GroundTruth(travel=1.5)


def test_evaluate_arithmetic():
    idx = pd.Index([1, 2, 3, 4, 5, 6], name="id_pedido")
    labels = pd.DataFrame({"id_pedido": [2, 3, 5], "tipo_fraude": ["localizacao", "dispositivo",
                                                                   "localizacao"]})
    flags = {
        "location": pd.Series([False, True, True, True, False, False], index=idx),
        "device_x": pd.Series([False, False, True, False, False, False], index=idx),
        "nothing": pd.Series(False, index=idx),
    }
    r = fraud.evaluate(flags, labels, types={"nothing": "dispositivo"})
    loc = r.loc["location"]
    assert (loc["flagged"], loc["true_positives"], loc["positives"]) == (3, 1, 2)
    assert loc["precision"] == pytest.approx(1 / 3) and loc["recall"] == pytest.approx(0.5)
    assert loc["precision_any"] == pytest.approx(2 / 3)
    assert loc["f1"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert (loc["positives_any"], loc["recall_any"]) == (3, pytest.approx(2 / 3))
    dev = r.loc["device_x"]
    assert (dev["precision"], dev["recall"], dev["fraud_type"]) == (1.0, 1.0, "dispositivo")
    c = fraud.confusion(flags, labels)
    assert c.loc["location", ["true_pos", "false_pos", "false_neg", "true_neg"]].tolist() == [2, 1, 1, 2]
    assert c.loc["location", "missed_localizacao"] == 1 and c.loc["location", "missed_dispositivo"] == 0
    assert c.loc["nothing", "false_neg"] == 3
    assert math.isnan(r.loc["nothing", "precision"]) and r.loc["nothing", "recall"] == 0
    with pytest.raises(ValueError, match="which fraud type"):
        fraud.evaluate({"mystery": flags["location"]}, labels)


def test_shop_clock_ticks_from_its_start_whatever_the_wall_clock():
    clock = g.shop_clock(NOW, every_s=0.5)
    assert [clock() for _ in range(3)] == [NOW, NOW + timedelta(seconds=0.5), NOW + timedelta(seconds=1)]
    assert g.shop_clock(NOW)() == NOW                      # a new clock starts again
    for bad in (0, -1, "1", float("nan")):
        with pytest.raises(ValueError, match="every_s"):
            g.shop_clock(NOW, every_s=bad)
