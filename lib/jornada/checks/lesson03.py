"""Checks of lesson 03 (change data capture). Tasks 1 and 2 are judged on planted change events
built here (deterministic, no service needed, instant); tasks 3 and 4 talk to the real Postgres,
Kafka Connect and Kafka, and leave them as they found them.

- task_count_ops: ``count_ops(events)`` — creates/updates/deletes per table from a change-event
  DataFrame (snapshot reads are not creates, tombstones are not deletes).
- task_rebuild_state: ``rebuild_state(events)`` — the current rows of ``pessoas`` from its change
  stream (upsert c/r/u, delete d, in offset order — not ts_ms order).
- task_add_table_to_capture: ``add_table_to_capture(conn, table)`` — the original's publication
  trap: a table created later is captured only once it is in the publication, has a replica
  identity with before-images and the Debezium role may read it. Proven end to end: a short-lived
  second connector that includes the table must snapshot a row (needs the grant) and stream a
  new one (needs the publication).
- task_consume_all: ``consume_all(group, topic)`` — a consumer group reads a topic to its end and
  commits, so its lag is 0.

The lesson's short-lived second connector lives beside these checks
(:mod:`jornada.checks.lesson03_tools`); the capture barrier is :func:`jornada.cdc.wait_for_capture`.

Only the learner's own errors escape from the learner's code: NotImplementedError of an untouched
blank propagates unchanged (the grader reports "to do"); wrong answers raise TaskFailed with a hint.
"""

from __future__ import annotations

import uuid

import pandas as pd
import psycopg
from psycopg import sql

from .. import cdc, kafka
from ..config import settings as load_settings
from ..db import connect
from . import TaskFailed, call, expect, passed
from .lesson03_tools import temporary_connector

# Tasks that passed in this kernel (the solution notebook records them).
RESULTS: dict[str, dict] = {}

# What `jornada check 03` does to data (jornada.exercises.grade shows it; solutions/README.md):
# CHECK_SCRATCH lists the databases the run gets a scratch copy of (jornada.scratch).
CHECK_SCRATCH: tuple[str, ...] = ()
CHECK_DATA = (
    "`jornada check 03` runs against YOUR databases: the course connector captures your OLTP "
    "database, so a scratch copy would not be captured. Nothing is reset: init_oltp() only creates "
    "what is missing, cdc.ensure_capture() repairs the capture set-up, 50 customers are added only "
    "if your shop has none besides the seeds; task 3 creates a table cupons and drops it again "
    "(it stops if you have a cupons table of your own) with a temporary second connector, removed "
    "afterwards; task 4 reads a topic in new consumer groups")

# ---- planted change events (tasks 1 and 2) ---------------------------------------------------
EVENT_COLUMNS = ["topic", "partition", "offset", "key", "op", "before", "after", "source_ts_ms",
                 "table", "tombstone"]
T0 = 1_769_860_800_000  # 2026-01-31 12:00:00 UTC in ms: planted events never read the clock


class _Stream:
    """Builds one topic's messages the way Debezium writes them (offsets in commit order)."""

    def __init__(self, table: str, key_col: str = "id"):
        self.table, self.key_col = table, key_col
        self.rows: list[dict] = []
        self.state: dict = {}

    def _add(self, op, key, before, after, ts):
        self.rows.append({"topic": f"liga.public.{self.table}", "partition": 0,
                          "offset": len(self.rows), "key": {self.key_col: key}, "op": op,
                          "before": before, "after": after, "source_ts_ms": ts,
                          "table": self.table, "tombstone": False})

    def read(self, row: dict, ts: int):
        self.state[row[self.key_col]] = row
        self._add("r", row[self.key_col], None, dict(row), ts)

    def create(self, row: dict, ts: int):
        self.state[row[self.key_col]] = row
        self._add("c", row[self.key_col], None, dict(row), ts)

    def update(self, key, ts: int, **changes):
        before = self.state[key]
        after = {**before, **changes}
        self.state[key] = after
        self._add("u", key, dict(before), dict(after), ts)

    def delete(self, key, ts: int):
        before = self.state.pop(key)
        self._add("d", key, dict(before), None, ts)
        # the tombstone: same key, no value — no op, no table in the value
        self.rows.append({"topic": f"liga.public.{self.table}", "partition": 0,
                          "offset": len(self.rows), "key": {self.key_col: key}, "op": None,
                          "before": None, "after": None, "source_ts_ms": None, "table": None,
                          "tombstone": True})

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=EVENT_COLUMNS)
        df["source_ts_ms"] = df["source_ts_ms"].astype("Int64")  # tombstones: <NA>
        return df


def _pessoa(pid: int, nome: str, sexo: str, days: int, ts: int) -> dict:
    us = ts * 1000
    return {"id": pid, "nome": nome, "sexo": sexo, "dt_nasc": days, "created_at": us, "updated_at": us}


# task 1: what happened, per table (snapshot reads and tombstones included on purpose)
EXPECTED_OPS = {"categorias": {"c": 1, "u": 1, "d": 0},
                "pedidos": {"c": 6, "u": 1, "d": 1},
                "pessoas": {"c": 3, "u": 2, "d": 2},
                "produtos": {"c": 2, "u": 3, "d": 1}}


def planted_events() -> pd.DataFrame:
    """Messages of four topics, concatenated and shuffled, as a consumer could collect them."""
    t = T0
    cat = _Stream("categorias")
    for i, d in enumerate(["Moda Masculina", "Moda Feminina", "Moda Infantil", "Tecnologia",
                           "Veículos", "Construção", "Brinquedos", "Supermercado", "Pet"], start=1):
        cat.read({"id": i, "descricao": d}, t)
    cat.create({"id": 10, "descricao": "Livros"}, t + 5_000)
    cat.update(10, t + 6_000, descricao="Livros e Revistas")

    prod = _Stream("produtos")
    for i in range(1, 6):
        prod.read({"id": i, "id_categoria": 4, "descricao": f"Produto {i}", "valor_unit": f"{10 * i}.00"}, t)
    prod.create({"id": 6, "id_categoria": 10, "descricao": "Dom Casmurro", "valor_unit": "39.90"}, t + 7_000)
    prod.create({"id": 7, "id_categoria": 10, "descricao": "Grande Sertão", "valor_unit": "59.90"}, t + 7_000)
    prod.update(6, t + 8_000, valor_unit="34.90")
    prod.update(2, t + 8_500, valor_unit="25.00")
    prod.update(6, t + 9_000, valor_unit="29.90")
    prod.delete(7, t + 9_500)

    pes = _Stream("pessoas")
    for i, (nome, sexo) in enumerate([("Ana Lima", "F"), ("Bruno Reis", "M"), ("Carla Dias", "F"),
                                      ("Davi Souza", "M")]):
        pes.read(_pessoa(11111111111 * (i + 1) + 1, nome, sexo, 7000 + i, t), t)
    ids = sorted(pes.state)
    pes.create(_pessoa(61234567890, "Elisa Rocha", "F", 9000, t + 1_000), t + 1_000)
    pes.create(_pessoa(71234567890, "Fábio Nunes", "M", 9100, t + 2_000), t + 2_000)
    pes.update(ids[0], t + 3_000, nome="Ana Lima Prado")
    pes.delete(ids[1], t + 4_000)
    pes.create(_pessoa(81234567890, "Gabi Melo", "F", 9200, t + 5_000), t + 5_000)
    pes.update(61234567890, t + 6_000, nome="Elisa Rocha Alves")
    pes.delete(71234567890, t + 7_000)

    ped = _Stream("pedidos")
    for k in range(6):
        ped.create({"id": 100 + k, "id_pessoa": ids[k % 3], "valor_total": f"{50 + k}.00"}, t + 10_000 + k)
    ped.update(103, t + 11_000, valor_total="99.00")
    ped.delete(105, t + 12_000)

    df = pd.concat([s.frame() for s in (cat, prod, pes, ped)], ignore_index=True)
    df = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    df.index = df.index + 500
    return df


def _as_counts(got) -> pd.DataFrame:
    if isinstance(got, dict):
        try:
            got = pd.DataFrame(got).T
        except ValueError:
            raise TaskFailed("count_ops() returned a dict that is not {table: {op: count}}") from None
    expect(isinstance(got, pd.DataFrame),
           f"count_ops() must return a DataFrame (index: table, columns: c, u, d), got {type(got).__name__}")
    if "table" in got.columns:
        got = got.set_index("table")
    missing = [c for c in ("c", "u", "d") if c not in got.columns]
    expect(not missing, f"the result needs the columns c, u and d (missing {missing}; got "
                        f"{list(got.columns)}) — e.g. pd.crosstab(table, op) or groupby + unstack")
    topics = [str(i) for i in got.index if str(i).startswith("liga.")]
    if topics:
        raise TaskFailed(f"index the rows by table name ('pessoas'), not by topic ({topics[0]!r}): "
                         "the table is in the `table` column, or the last part of the topic")
    return got[["c", "u", "d"]].fillna(0)


def task_count_ops(fn) -> None:
    """fn(events) -> DataFrame indexed by table with columns c, u, d (counts; 0 when none)."""
    RESULTS.pop("count_ops", None)
    events = planted_events()
    got = _as_counts(call(fn, events.copy()))
    want = pd.DataFrame(EXPECTED_OPS).T
    extra = sorted(set(map(str, got.index)) - set(want.index))
    expect(not [e for e in extra if e not in ("nan", "None")],
           f"unexpected tables {extra}: the planted events come from {sorted(want.index)}")
    expect(not [e for e in extra if e in ("nan", "None")],
           "a row indexed NaN/None: the tombstones — they have no op and no table in their value "
           "(only a key). Leave them out: they are not changes, they tell a compacted topic to "
           "forget the key")
    lost = sorted(set(want.index) - set(map(str, got.index)))
    expect(not lost, f"tables missing from your result: {lost} — every table with events gets a row")
    got.index = got.index.map(str)
    got = got.loc[want.index]
    reads = events[events["op"] == "r"].groupby("table").size().reindex(want.index, fill_value=0)
    tombs = events[events["tombstone"]]["topic"].str.rsplit(".", n=1).str[-1].value_counts() \
        .reindex(want.index, fill_value=0)
    if (got["c"] == want["c"] + reads).all() and reads.any():
        raise TaskFailed(
            "your creates include the snapshot reads (op = 'r'): those rows already existed when the "
            "connector started — it read them, nobody created them. Count op == 'c' only")
    if (got["d"] == want["d"] + tombs).all() and tombs.any():
        raise TaskFailed(
            "your deletes are twice too many: tombstones have no op — did you filter on op = 'd'? "
            "(a delete is one op='d' event with the old row in `before`, then a tombstone: same key, "
            "value null)")
    for op, label in (("c", "creates"), ("u", "updates"), ("d", "deletes")):
        bad = [f"{t}: {int(got.at[t, op])} instead of {want.at[t, op]}" for t in want.index
               if int(got.at[t, op]) != want.at[t, op]]
        expect(not bad, f"wrong {label} ({', '.join(bad)}) — count the events with op == '{op}' "
                        "per table")
    RESULTS["count_ops"] = {t: {op: int(n) for op, n in r.items()} for t, r in want.iterrows()}
    passed("count_ops", f"{len(events)} messages: snapshot reads and tombstones left out")


# task 2: the current state of pessoas
def planted_pessoas_stream() -> tuple[pd.DataFrame, dict[int, str]]:
    """The change stream of pessoas, shuffled, and the expected {id: nome} of the live rows.

    Includes: snapshot reads, creates, renames, deletes with their tombstones, a key deleted and
    created again, a re-delivered stretch (at-least-once after a connector crash), two changes of
    one key in the same millisecond and a commit clock stepped back by NTP — so only the offset
    (the commit order in the partition) orders the events right.
    """
    t = T0
    s = _Stream("pessoas")
    people = [(10000000019, "Ana Lima", "F"), (20000000027, "Bruno Reis", "M"),
              (30000000035, "Carla Dias", "F"), (40000000043, "Davi Souza", "M"),
              (50000000051, "Eva Prado", "F"), (80000000086, "Hugo Alves", "M")]
    for i, (pid, nome, sexo) in enumerate(people):
        s.read(_pessoa(pid, nome, sexo, 7000 + i, t), t)                 # snapshot
    a, b, c, d, e = (p[0] for p in people[:5])                           # (Hugo: never changes)
    f, g = 60000000060, 70000000078
    s.create(_pessoa(f, "Fábio Nunes", "M", 9000, t + 1_000), t + 1_000)
    s.update(a, t + 2_000, nome="Ana Lima Costa")                         # rename
    s.delete(b, t + 3_000)                                                # gone
    s.create(_pessoa(g, "Gabi Melo", "F", 9100, t + 4_000), t + 4_000)
    s.update(c, t + 5_000, nome="Carla D.")                               # same millisecond:
    s.update(c, t + 5_000, nome="Carla Dias Moura")                       # the later one wins
    s.delete(g, t + 6_000)                                                # deleted…
    s.create(_pessoa(g, "Gabriela Melo", "F", 9100, t + 7_000), t + 7_000)  # …and back
    replay_from = len(s.rows)
    s.update(d, t + 8_000, nome="Davi Souza Lima")
    s.update(f, t + 9_000, nome="Fábio Nunes Filho")
    # the connector crashed before committing its offsets: the last two events come again
    for row in s.rows[replay_from:]:
        s.rows.append({**row, "offset": len(s.rows)})
    s.update(e, t + 4_500, nome="Eva Prado Reis")       # NTP stepped the clock back 5.5 s…
    s.update(e, t + 4_600, nome="Eva P. Reis")          # …ts_ms is a wall clock, not an order
    s.delete(d, t + 4_700)
    df = s.frame().sample(frac=1.0, random_state=7).reset_index(drop=True)
    df.index = df.index + 900
    want = {pid: row["nome"] for pid, row in s.state.items()}
    return df, want


def _as_state(got) -> dict[int, str]:
    expect(isinstance(got, pd.DataFrame),
           f"rebuild_state() must return a DataFrame (one row per live customer), got {type(got).__name__}")
    df = got
    if "id" in df.columns:
        df = df.set_index("id")
    expect("nome" in df.columns, f"the result needs the columns of `after` (id, nome, ...); got "
                                 f"{list(got.columns)}")
    ids = [int(i) for i in df.index]
    expect(len(ids) == len(set(ids)),
           "some ids appear on more than one row: the state has ONE row per key — the last "
           "version (an upsert, not an append)")
    return dict(zip(ids, df["nome"]))


def _apply(events: pd.DataFrame) -> dict[int, str]:
    state: dict[int, str] = {}
    for op, key, after in zip(events["op"], events["key"], events["after"]):
        if op in ("c", "r", "u"):
            state[key["id"]] = after["nome"]
        elif op == "d":
            state.pop(key["id"], None)
    return state


def task_rebuild_state(fn) -> None:
    """fn(events) -> DataFrame of the live rows of pessoas (index or column id; columns of after)."""
    RESULTS.pop("rebuild_state", None)
    events, want = planted_pessoas_stream()
    try:
        result = call(fn, events.copy())
    except (TypeError, KeyError, AttributeError) as exc:
        raise TaskFailed(
            f"your code raised {type(exc).__name__}: {exc} — tombstones have op=None and after=None "
            "(and deletes have after=None): skip rows whose op is None, and read the key of a "
            "delete from `key` or `before`") from None
    got = _as_state(result)
    if got == want:
        RESULTS["rebuild_state"] = {"events": len(events), "live": len(want)}
        passed("rebuild_state", f"{len(events)} events → {len(want)} live customers")
        return
    if got == _apply(events):
        raise TaskFailed("you applied the events in the order of the rows you were given — they are "
                         "shuffled (as when batches of several consumers are collected): sort by "
                         "offset first")
    davi, bruno, carla = 40000000043, 20000000027, 30000000035
    if (davi in got and bruno not in got) or got.get(carla) == "Carla D.":
        raise TaskFailed(
            "order by offset, not by ts_ms: within a partition the offset IS the commit order. "
            "source.ts_ms is a wall clock — two commits in the same millisecond tie (Carla was "
            "renamed twice in one ms), and a clock corrected by NTP goes backwards (Davi's delete "
            "carries an earlier ts_ms than his update)")
    ever_deleted = {k["id"] for op, k in zip(events["op"], events["key"]) if op == "d"}
    deleted_now = ever_deleted - set(want)
    if deleted_now & set(got):
        raise TaskFailed(
            f"you kept deleted rows ({sorted(deleted_now & set(got))}) — did you drop keys whose last "
            "event is op = 'd'? A delete event has after = None: remove the key from the state")
    reborn = ever_deleted & set(want)
    if reborn - set(got):
        raise TaskFailed(
            f"customer {sorted(reborn - set(got))[0]} was deleted and then created again: it is alive. "
            "Do not drop every key that was ever deleted — apply the events in order, the LAST one "
            "of each key decides")
    snap = {k["id"] for op, k in zip(events["op"], events["key"]) if op == "r"}
    untouched = sorted(k for k in snap if k in want and k not in got)
    if untouched:
        raise TaskFailed(
            f"customers that only appear in the snapshot are missing ({untouched[:3]}): op = 'r' is "
            "the connector's first read of a row that already existed — the starting state. Apply "
            "r like c (an upsert)")
    extra = sorted(set(got) - set(want))
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    raise TaskFailed("wrong state: " + "; ".join(
        [f"{k}: expected {v!r}, got {g!r}" for k, (g, v) in list(wrong.items())[:4]]
        + [f"{k} should not be there" for k in extra[:2]])
        + " — upsert `after` for c/r/u, delete the key for d, in offset order")


# ---- task 3: the publication trap ------------------------------------------------------------
CHECK_TABLE = "cupons"
CUPONS_DDL = """
create table {t} (
    id          serial primary key,
    codigo      text          not null unique,
    desconto    numeric(5,2)  not null check (desconto between 0 and 100),
    valido_ate  date          not null,
    created_at  timestamp     not null default now(),
    updated_at  timestamp     not null default now()
)"""


def publication_of_connector(name: str = cdc.CONNECTOR) -> str:
    return cdc.connector_template(name)["publication.name"]


def capture_state(conn, table: str, role: str, publication: str) -> dict:
    """What Postgres says about one table: publications, replica identity, the role's privileges."""
    pubs = [r[0] for r in conn.execute(
        "select pubname from pg_publication_tables where schemaname = 'public' and tablename = %s",
        (table,))]
    ident = conn.execute("select relreplident from pg_class where oid = %s::regclass",
                         (f"public.{table}",)).fetchone()[0]
    privileges = {p: conn.execute("select has_table_privilege(%s, %s, %s)",
                                  (role, f"public.{table}", p)).fetchone()[0]
                  for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")}
    return {"in_publication": publication in pubs, "publications": pubs,
            "replica_identity": {"f": "full", "d": "default", "n": "nothing", "i": "index"}[ident],
            "privileges": privileges}


def _learner_sql(fn, conn, table):
    try:
        return call(fn, conn, table)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ""
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = (" — the course role owns the tables and the publication, so it can ALTER them and "
                    "GRANT on them; FOR ALL TABLES and role attributes need a superuser (which is "
                    "exactly what we avoid)")
        elif isinstance(exc, psycopg.errors.DuplicateObject):
            hint = (" — is the table already in the publication? Make the function idempotent: look "
                    "in pg_publication_tables first (like jornada.cdc.setup_postgres does)")
        raise TaskFailed(f"your SQL failed: {type(exc).__name__}: {first}{hint}") from None


PLANTED_CODES = {"BEMVINDO10", "FRETE5"}  # the coupons this check inserts


def _refuse_to_drop_a_learner_table(conn, table: str) -> None:
    """The check drops and re-creates ``table``: only when it is absent, empty or its own leftover
    (an interrupted run). A table with rows of the learner's is never dropped."""
    if conn.execute("select to_regclass(%s)", (f"public.{table}",)).fetchone()[0] is None:
        return
    try:
        codes = {r[0] for r in conn.execute(sql.SQL("select codigo from {}").format(sql.Identifier(table)))}
    except psycopg.Error:  # other columns: not a table this check made
        codes = None
    if codes is not None and codes <= PLANTED_CODES:
        return
    raise TaskFailed(f"your OLTP database has a table {table} of your own"
                     + (f" ({len(codes)} rows)" if codes is not None else "")
                     + f": the check creates and drops a fresh {table} table, so it stops instead of "
                       f"dropping yours. Rename it (alter table {table} rename to meus_{table}) or drop "
                       "it, then check again")


def task_add_table_to_capture(fn) -> None:
    """fn(conn, table): make a table created after the connector was set up captured by it."""
    RESULTS.pop("add_table_to_capture", None)
    s = load_settings()
    role = cdc.placeholder_values(s)["DEBEZIUM_USER"]
    publication = publication_of_connector()
    table = CHECK_TABLE
    with connect("oltp", autocommit=True) as conn:
        _refuse_to_drop_a_learner_table(conn, table)
        conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(table)))
        conn.execute(sql.SQL(CUPONS_DDL).format(t=sql.Identifier(table)))
        try:
            before = capture_state(conn, table, role, publication)
            _learner_sql(fn, conn, table)
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
                raise TaskFailed("your function left a transaction open: commit it (or use `with "
                                 "conn.transaction():`) — an uncommitted ALTER PUBLICATION changes "
                                 "nothing for anyone else")
            state = capture_state(conn, table, role, publication)
            others = [p for p in state["publications"] if p != publication]
            expect(state["in_publication"],
                   f"{table} is not in publication {publication}"
                   + (f" (it is in {others}: the connector reads {publication} only — "
                      "publication.name in stack/register-liga-oltp.json)" if others else "")
                   + f" — this is the publication trap: ALTER PUBLICATION {publication} ADD TABLE "
                     f"{table}. Without it Postgres never sends the table's changes; no error, the "
                     "topic simply never appears")
            expect(state["replica_identity"] == "full",
                   f"{table} has REPLICA IDENTITY {state['replica_identity'].upper()}: an update event "
                   "then has before = null and a delete's before holds only the key (the other "
                   "columns arrive as '' and 0 — fake values). ALTER TABLE ... REPLICA IDENTITY FULL, "
                   "like every captured table (jornada.cdc.REPLICA_IDENTITY)")
            expect(state["privileges"]["SELECT"],
                   f"the role {role} cannot SELECT {table}: streaming would work, but a snapshot "
                   "reads the table and fails with 'permission denied' — and Debezium retries it every "
                   "10 s, forever, while its status says RUNNING. GRANT SELECT ON the table TO "
                   f"{role}")
            writes = [p for p, ok in state["privileges"].items() if ok and p != "SELECT"]
            expect(not writes,
                   f"the role {role} may now {', '.join(writes)} on {table}: Debezium only reads. "
                   "Least privilege — GRANT SELECT, nothing more (GRANT ALL is what the original's "
                   "superuser amounted to)")
            try:
                _learner_sql(fn, conn, table)
            except TaskFailed as exc:
                raise TaskFailed(f"calling your function a second time failed: {exc}") from None
            # proof: a connector that includes the table snapshots a row and streams a new one
            conn.execute(sql.SQL("insert into {} (codigo, desconto, valido_ate) values "
                                 "('BEMVINDO10', 10, date '2026-12-31')").format(sql.Identifier(table)))
            with temporary_connector([table], tag="check", s=s) as tc:
                snap = cdc.read_topic(tc.topic(table), min_messages=1, timeout_s=60, s=s)
                if snap.empty:
                    st = cdc.connector_status(tc.name, s) or {}
                    traces = [cdc._first_line(t.get("trace")) for t in st.get("tasks", [])  # noqa: SLF001
                              if t.get("state") == "FAILED"]
                    raise TaskFailed(f"a connector including {table} published nothing in 60 s"
                                     + (f": its task FAILED — {traces[0]}" if traces else ""))
                conn.execute(sql.SQL("insert into {} (codigo, desconto, valido_ate) values "
                                     "('FRETE5', 5, date '2026-06-30')").format(sql.Identifier(table)))
                events = cdc.read_topic(tc.topic(table), min_messages=2, timeout_s=30, s=s)
            ops = events["op"].tolist()
            expect(ops[:1] == ["r"] and "c" in ops,
                   f"expected the snapshot read of BEMVINDO10 then the create of FRETE5, got ops {ops}")
        finally:
            conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(table)))
    RESULTS["add_table_to_capture"] = {"before": before, "after": state, "ops": ops}
    passed("add_table_to_capture",
           f"{table}: in {publication}, REPLICA IDENTITY FULL, SELECT only for {role}; a connector "
           "including it snapshotted one row (op=r) and streamed the next (op=c)")


# ---- task 4: a consumer group reads to the end ----------------------------------------------
CONSUME_TOPIC_TABLE = "categorias"


def task_consume_all(fn) -> None:
    """fn(group, topic) -> number of messages read; the group must have committed up to the end."""
    RESULTS.pop("consume_all", None)
    s = load_settings()
    topic = cdc.topic_for(CONSUME_TOPIC_TABLE)
    group = f"lesson03-check-{uuid.uuid4().hex[:8]}"
    consumer = kafka.consumer(s)
    try:
        parts = kafka.partitions(consumer, [topic])
        expect(bool(parts), f"topic {topic} does not exist: is CDC running? (`jornada cdc status`)")
        begin = consumer.beginning_offsets(parts)
        end = consumer.end_offsets(parts)
    finally:
        consumer.close()
    available = sum(end[p] - begin[p] for p in parts)
    n = call(fn, group, topic)
    lag = cdc.consumer_lag(group, topic, s)
    expect(isinstance(n, int) and not isinstance(n, bool),
           f"consume_all() must return the number of messages read (an int), got {n!r}")
    expect(lag["committed"].notna().all(),
           f"group {group} committed nothing: with enable_auto_commit=False call consumer.commit() "
           "once the messages are processed (and pass group_id=group: without a group there is "
           "nothing to commit to)")
    if n == 0 and available:
        raise TaskFailed(
            f"you read 0 of the {available} messages: a NEW group starts where auto_offset_reset "
            "says — 'latest' by default, the end of the topic. Set auto_offset_reset='earliest'")
    behind = lag[lag["lag"] > 0]
    expect(behind.empty,
           f"the group is {int(behind['lag'].sum())} message(s) behind: you stopped before the end. "
           "Poll until the consumer's position reaches end_offsets() (a poll returns at most one "
           "batch), then commit")
    expect(n >= available,
           f"you report {n} messages but the topic held {available}: count every message, "
           "tombstones included (their value is None)")
    RESULTS["consume_all"] = {"topic": topic, "messages": n, "lag": int(lag["lag"].sum())}
    passed("consume_all", f"{n} messages of {topic}, committed; lag 0")
