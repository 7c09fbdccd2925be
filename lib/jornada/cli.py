"""`jornada`: the course's command line (stack, database, generators, checks)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Jornada de Dados: run the Liga Sudoers stack and course.")
stack_app = typer.Typer(no_args_is_help=True, help="The native runtime: real services as local processes.")
db_app = typer.Typer(no_args_is_help=True, help="The OLTP schema.")
gen_app = typer.Typer(no_args_is_help=True, help="Deterministic data generators.")
cdc_app = typer.Typer(no_args_is_help=True, help="Change data capture: Debezium, Kafka Connect, Kafka.")
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")
app.add_typer(gen_app, name="generate")
app.add_typer(cdc_app, name="cdc")
warehouse_app = typer.Typer(no_args_is_help=True, help="The warehouse: raw mirror loads, quality gate, dbt.")
course_app = typer.Typer(no_args_is_help=True, help="Execute the course's notebooks.")
exercises_app = typer.Typer(no_args_is_help=True, help="Exercise notebooks, generated from solutions.")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(course_app, name="course")
app.add_typer(exercises_app, name="exercises")
lake_app = typer.Typer(no_args_is_help=True, help="The lakehouse: CDC topics → bronze → silver → gold (Delta on S3).")
app.add_typer(lake_app, name="lake")

console = Console(stderr=True)
DEFAULT_NOW = "2026-01-31T12:00:00"


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _parse_now(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        _fail(f"--now must be an ISO date-time like {DEFAULT_NOW}, got {value!r}", 2)


def _guard(fn, *args, **kwargs):
    """Turn the library's expected errors into one clear line and a non-zero exit."""
    from .config import ConfigError
    from .db import ServiceUnavailable
    from .stack import StackError
    from .warehouse import WarehouseError

    try:
        return fn(*args, **kwargs)
    except (ConfigError, ServiceUnavailable, StackError, WarehouseError) as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


# ---- env ---------------------------------------------------------------------------------
@app.command()
def env() -> None:
    """Create .env from .env.example with generated secrets (never overwrites)."""
    from .config import ENV_FILE, ensure_env_file

    console.print(f"created {ENV_FILE}" if ensure_env_file() else f"{ENV_FILE} already exists")


# ---- stack -------------------------------------------------------------------------------
def _stack():
    from .config import ensure_env_file, reload
    from .services import stack

    ensure_env_file()
    return stack(reload())


@stack_app.command("up")
def stack_up(services: list[str] | None = typer.Argument(None, help="default: all")) -> None:
    """Start the services (idempotent: running ones are left alone)."""
    st = _guard(_stack)
    _guard(st.up, services, log=lambda m: console.print(m))


@stack_app.command("down")
def stack_down(services: list[str] | None = typer.Argument(None)) -> None:
    """Stop exactly what `up` started."""
    st = _guard(_stack)
    _guard(st.down, services, log=lambda m: console.print(m))


@stack_app.command("reset")
def stack_reset(services: list[str] | None = typer.Argument(None),
                yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Stop services and delete their data folders."""
    if not yes and not typer.confirm("Delete the native stack's data?"):
        raise typer.Exit(1)
    st = _guard(_stack)
    _guard(st.reset, services, log=lambda m: console.print(m))


@stack_app.command("status")
def stack_status() -> None:
    """Each service: running, healthy, endpoint. Exit 1 if one that `up` starts is unhealthy."""
    st = _guard(_stack)
    rows = st.status(every=True)
    table = Table("service", "state", "endpoint", "detail")
    for r in rows:
        state = ("[green]healthy[/]" if r["healthy"] else
                 "[dim]not started[/]" if r.get("optional") and not r["pid"] else "[red]down[/]")
        table.add_row(r["service"], state, r["endpoint"], r["detail"])
    Console().print(table)
    if not all(r["healthy"] for r in rows if not (r.get("optional") and not r["pid"])):
        raise typer.Exit(1)


@stack_app.command("doctor")
def stack_doctor() -> None:
    """Check Java, memory, CPU, disk and ports; each problem comes with its fix."""
    from .stack.doctor import run_checks

    checks = run_checks(_guard(_stack))
    table = Table("check", "ok", "detail", "fix")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]no[/]", c.detail, "" if c.ok else c.fix)
    Console().print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


# ---- db ----------------------------------------------------------------------------------
@db_app.command("init")
def db_init(reset: bool = typer.Option(False, "--reset", help="drop every OLTP table first")) -> None:
    """Apply the OLTP schema and seed the catalogue (idempotent)."""
    from .schema import init_oltp

    counts = _guard(init_oltp, reset=reset)
    console.print(", ".join(f"{t}={n}" for t, n in counts.items()))


# ---- generators --------------------------------------------------------------------------
SEED = typer.Option(42, min=0, help="same seed + same --now ⇒ identical rows (0 or more)")
NOW = typer.Option(DEFAULT_NOW, help="reference 'now' (ISO); history is dated before it")


@gen_app.command("customers")
def gen_customers(count: int = typer.Option(..., help="new customers to create"),
                  seed: int = SEED, now: str = NOW) -> None:
    """Create customers (with home address) in bulk."""
    from . import generators

    _guard(generators.validate, count=count)
    stats = _guard(generators.load_customers, count, seed=seed, now=_parse_now(now), progress=True)
    console.print(stats)


@gen_app.command("history")
def gen_history(orders: int | None = typer.Option(None, help="orders to generate"),
                profile: str | None = typer.Option(None, help="size preset: tiny, course, full"),
                seed: int = SEED, now: str = NOW,
                fraud_rate: float = typer.Option(0.01, help="share of fraudulent orders"),
                max_days: int = typer.Option(180, help="orders are 1..max_days days old"),
                customers: int | None = typer.Option(None, help="create this many customers first")) -> None:
    """Historical orders (COPY, one transaction) for existing customers and products."""
    from . import generators

    if profile:
        preset = _guard(generators.resolve_profile, profile)
        orders = orders or preset["orders"]
        customers = customers if customers is not None else preset["customers"]
    if orders is None:
        _fail("give --orders N or --profile tiny|course|full", 2)
    _guard(generators.validate, count=orders, fraud_rate=fraud_rate, max_days=max_days)
    if customers:
        _guard(generators.validate, count=customers)
    ref = _parse_now(now)
    if customers:
        console.print(_guard(generators.load_customers, customers, seed=seed, now=ref, progress=True))
    console.print(_guard(generators.load_history, orders, seed=seed, now=ref,
                         fraud_rate=fraud_rate, max_days=max_days, progress=True))


@gen_app.command("stream")
def gen_stream(rate: float | None = typer.Option(None, help="orders per second (default: as fast as possible)"),
               count: int | None = typer.Option(None, help="stop after N orders"),
               duration: float | None = typer.Option(None, help="stop after N seconds"),
               seed: int = SEED, fraud_rate: float = typer.Option(0.05),
               new_customer_share: float = typer.Option(0.1, help="share of orders by new customers")) -> None:
    """Current-time orders, one transaction each, creating customers as it goes. Ctrl-C stops."""
    from . import generators

    if count is None and duration is None:
        _fail("give --count N and/or --duration SECONDS", 2)
    _guard(generators.validate, count=count, rate=rate, fraud_rate=fraud_rate, duration=duration)
    console.print(_guard(generators.run_stream, rate=rate, count=count, duration=duration, seed=seed,
                         fraud_rate=fraud_rate, new_customer_share=new_customer_share, progress=True))


# ---- cdc ---------------------------------------------------------------------------------
@cdc_app.command("register")
def cdc_register(wait: bool = typer.Option(True, help="wait until the connector is RUNNING")) -> None:
    """Prepare Postgres (role, publication, replica identity, heartbeat) and register every
    stack/register-*.json connector in Kafka Connect. Idempotent."""
    from . import cdc
    from .config import ensure_env_file, reload

    ensure_env_file()
    report = _guard(cdc.ensure_capture, reload(), log=lambda m: console.print(m), wait=wait)
    for name, r in report.items():
        console.print(f"{name}: connector {r['connector']}, publication {r['postgres']['publication']}, "
                      f"role {r['postgres']['role']}")


@cdc_app.command("status")
def cdc_status() -> None:
    """Connector and task state, publication coverage, replication slot lag. Exit 1 on a problem."""
    from . import cdc

    st = _guard(cdc.status)
    table = Table("what", "state")
    s = st.get("status")
    if s:
        table.add_row(f"connector {s['name']}", s["connector"] or "?")
        for t in s["tasks"]:
            table.add_row(f"  task {t['id']}", t["state"])
    pub = st.get("publication")
    if pub:
        table.add_row(f"publication {pub['name']}", f"{len(pub['tables'])} tables"
                      + (f", MISSING {pub['missing']}" if pub["missing"] else ""))
    slot = st.get("slot")
    if slot:
        table.add_row(f"slot {slot['slot_name']}",
                      f"{'active' if slot['active'] else 'inactive'}, lag {slot['lag_bytes']} B, "
                      f"retains {slot['retained_bytes']} B of WAL ({slot['wal_status']})")
    Console().print(table)
    for p in st["problems"]:
        console.print(f"[red]problem:[/] {p}")
    if st["problems"]:
        raise typer.Exit(1)


@cdc_app.command("topics")
def cdc_topics(internal: bool = typer.Option(False, help="also Connect's internal topics")) -> None:
    """Every topic with its number of messages."""
    from . import cdc

    topics = _guard(cdc.list_topics, internal=internal)
    table = Table("topic", "messages")
    for name, n in topics.items():
        table.add_row(name, str(n))
    Console().print(table)


# ---- warehouse ---------------------------------------------------------------------------
def _json(value) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, default=str))


def _say(message: str) -> None:
    console.print(message, markup=False, highlight=False)


@warehouse_app.command("snapshot")
def warehouse_snapshot() -> None:
    """Full consistent COPY of the OLTP into raw (and the CDC start positions)."""
    from . import warehouse

    _json(_guard(warehouse.extract_snapshot, log=_say))


@warehouse_app.command("cdc")
def warehouse_cdc(follow: bool = typer.Option(False, "--follow", help="keep applying until Ctrl-C")) -> None:
    """Apply Debezium's change events to raw (drain to the current end, or follow)."""
    from . import warehouse

    _json(_guard(warehouse.apply_cdc, follow=follow, max_seconds=None if follow else 300, log=_say))


@warehouse_app.command("load")
def warehouse_load() -> None:
    """CDC, or a snapshot (after a reset of the warehouse when the OLTP was re-created) + CDC."""
    from . import warehouse

    _json(_guard(warehouse.load, log=_say))


@warehouse_app.command("check")
def warehouse_check() -> None:
    """Data-quality gate: raw and fact vs OLTP, freshness. Exit 1 when it fails."""
    from . import warehouse

    _json(_guard(warehouse.quality_gate))


@warehouse_app.command("reset")
def warehouse_reset() -> None:
    """Drop every warehouse schema (raw, dbt models, SCD2 history)."""
    from . import warehouse

    _guard(warehouse.reset_warehouse)
    _say("warehouse schemas dropped")


@warehouse_app.command("dbt", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                                "help_option_names": []})
def warehouse_dbt(ctx: typer.Context) -> None:
    """dbt ARGS… with the course's connection, e.g. `jornada warehouse dbt build`."""
    from . import warehouse

    _guard(warehouse.dbt, *ctx.args, echo=typer.echo)


# ---- lake ----------------------------------------------------------------------------------
def _lake_stage(stage: str, continuous: bool, **options) -> None:
    from . import lake
    from .lake import bronze, silver

    run = {"bronze": bronze.run, "silver": silver.run}[stage]
    _guard(lake.preflight, needs=("s3", "kafka", "oltp") if stage == "silver" else ("s3", "kafka"))
    _json(_guard(run, continuous=continuous, log=_say, **options))


@lake_app.command("bronze")
def lake_bronze(continuous: bool = typer.Option(False, "--continuous/--available-now",
                                                help="keep streaming (processingTime trigger) until "
                                                     "Ctrl-C/SIGTERM, or catch up and stop (default)"),
                topic_prefix: str | None = typer.Option(None, help="another connector's topic.prefix "
                                                        "(default: the course connector's)")) -> None:
    """Debezium topics → s3a://bronze/<table> (Structured Streaming, checkpointed)."""
    _lake_stage("bronze", continuous, topic_prefix=topic_prefix)


@lake_app.command("silver")
def lake_silver(continuous: bool = typer.Option(False, "--continuous/--available-now",
                                                help="keep merging as bronze grows, or catch up and stop")) -> None:
    """bronze → s3a://silver/<table>: MERGE of the latest change per key, guarded by LSN."""
    _lake_stage("silver", continuous)


@lake_app.command("stream")
def lake_stream() -> None:
    """Kafka → bronze → silver in one streaming query (lower latency than two), until Ctrl-C/SIGTERM."""
    from . import lake
    from .lake import bronze, silver
    from .lake.spark import spark_session

    _guard(lake.preflight, needs=("s3", "kafka", "oltp"))

    def run():
        query, writer = silver.start_with_bronze(spark_session("lake-stream"), log=_say)
        bronze.wait(query, True, None)
        return {"events": dict(sorted(writer.rows.items())), "batches": writer.batches}

    _json(_guard(run))


@lake_app.command("gold")
def lake_gold() -> None:
    """silver → s3a://gold/…: the gold tables, rebuilt."""
    from . import lake
    from .lake import gold

    _guard(lake.preflight, needs=("s3",))
    _json(_guard(gold.build))


@lake_app.command("refresh")
def lake_refresh(gate: bool = typer.Option(True, help="fail unless silver's row counts equal the OLTP's")) -> None:
    """Bronze catch-up → silver → quality gate → gold, in one Spark session."""
    from . import lake

    try:
        _json(_guard(lake.refresh, gate=gate, log=_say))
    except RuntimeError as exc:
        _fail(str(exc))


@lake_app.command("check")
def lake_check() -> None:
    """Silver row counts vs the OLTP's (no Spark). Exit 1 when they differ."""
    from .lake import silver

    report = _guard(silver.compare_with_oltp)
    _json(report)
    if report["problems"]:
        raise typer.Exit(1)


@lake_app.command("reset")
def lake_reset() -> None:
    """Delete the bronze and silver tables with their checkpoints (gold is rebuilt anyway)."""
    from .lake import bronze, silver

    _json({"bronze": _guard(bronze.reset), "silver": _guard(silver.reset)})


# ---- course, exercises, benchmarks --------------------------------------------------------
@course_app.command("run")
def course_run(output: Path = typer.Option(Path("output"), help="folder for executed notebooks"),
               solutions: bool = typer.Option(True, help="also execute the solutions")) -> None:
    """Execute every lesson (and solution) headless; writes output/summary.md."""
    from . import course

    out = output.resolve()
    rows = _guard(course.run_course, out, include_solutions=solutions)
    console.print(f"summary: {out / 'summary.md'}")
    if not rows or not all(r["status"] == "ok" for r in rows):
        raise typer.Exit(1)


@course_app.command("keep-outputs")
def course_keep_outputs(output: Path = typer.Option(Path("output"), help="a `course run` output folder")) -> None:
    """Commit the outputs of the lessons' `# NBVAL_CHECK_OUTPUT` cells from a course run (all
    other outputs stay stripped); run it twice on two runs: a second change means nondeterminism."""
    from . import course

    for lesson in course.lesson_paths():
        executed = output.resolve() / course.NOTEBOOKS.name / lesson.name
        if not executed.exists():
            continue
        changed = _guard(course.keep_checked_outputs, executed, lesson)
        console.print(f"{lesson.name}: " + (f"outputs changed in {', '.join(changed)}" if changed else "unchanged"))


@exercises_app.command("generate")
def exercises_generate() -> None:
    """Regenerate exercises/ from solutions/ (never edit exercises by hand)."""
    from . import exercises

    stale = _guard(exercises.generate)
    console.print("regenerated: " + (", ".join(stale) if stale else "nothing to do"))


@exercises_app.command("check-sync")
def exercises_check_sync() -> None:
    """Exit 1 when exercises/ is not what solutions/ generate."""
    from . import exercises

    stale = _guard(exercises.generate, check_only=True)
    if stale:
        _fail("out of date (run `make exercises`): " + ", ".join(stale))
    console.print("exercises are in sync with solutions")


@app.command()
def bench(output: Path = typer.Option(Path("output/bench.json"), help="JSON results"),
          only: list[str] | None = typer.Option(None, help="subset: geo generators cdc warehouse lake fraud scoring")) -> None:
    """Benchmarks on their own Postgres (never the learner's), JSON into OUTPUT."""
    from .config import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT))  # benchmarks/ lives beside the package, not inside it
    import benchmarks

    _json(_guard(benchmarks.run, output, only))


# ---- learners ----------------------------------------------------------------------------
@app.command()
def start(lesson: str | None = typer.Argument(None, help="lesson number, e.g. 01"),
          all_: bool = typer.Option(False, "--all", help="every lesson that has no copy yet"),
          force: bool = typer.Option(False, "--force",
                                     help="replace your copy with a fresh one (the old one is backed up first)")) -> None:
    """Copy a lesson's exercise into workspace/ for you to fill in (never over your work)."""
    from . import exercises

    if all_ == bool(lesson):
        _fail("give a lesson (e.g. `jornada start 01`) or --all", 2)
    if all_ and force:
        _fail("--force replaces one lesson's copy at a time: `jornada start NN --force`", 2)
    reports = _guard(exercises.start_all) if all_ else [_guard(exercises.start, lesson, force)]
    for r in reports:
        where = _shown(r["path"])
        if r["action"] == "copied":
            _say(f"lesson {r['lesson']}: {where} is yours to fill in; grade it with `jornada check {r['lesson']}`")
        elif r["action"] == "replaced":
            _say(f"lesson {r['lesson']}: {where} is a fresh copy; your previous one is in {_shown(r['backup'])}")
        elif not all_:
            _say(f"lesson {r['lesson']}: {where} already exists — kept, your work is never overwritten "
                 f"(`jornada start {r['lesson']} --force` backs it up and starts afresh)")
    if all_:
        kept = [r["lesson"] for r in reports if r["action"] == "kept"]
        if kept:
            _say(f"kept your copies of lesson(s) {', '.join(kept)} in {_shown(reports[0]['path'].parent)}")


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@app.command()
def check(lesson: str = typer.Argument(..., help="lesson number, e.g. 01"),
          notebook: str | None = typer.Option(None, help="default: your copy, workspace/<lesson>_*.ipynb"),
          as_json: bool = typer.Option(False, "--json", help="print one JSON object (for tools and tests)")) -> None:
    """Run your copy of the lesson's exercises and say, per task, pass, to do or a hint."""
    from .exercises import check_lesson

    ok = _guard(check_lesson, lesson, notebook, as_json)
    raise typer.Exit(0 if ok else 1)


@app.command()
def lab(port: int | None = typer.Option(None, help="default: JUPYTER_PORT of .env"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the command and environment, start nothing")) -> None:
    """JupyterLab on 127.0.0.1 for learners: copies missing exercises into workspace/ first."""
    from . import exercises, lab as lab_mod

    if not dry_run:
        for r in _guard(exercises.start_all):
            if r["action"] == "copied":
                _say(f"lesson {r['lesson']}: copied to {_shown(r['path'])}")
    cmd, env = _guard(lab_mod.command, port)
    if dry_run:
        typer.echo(" ".join(cmd))
        for key in lab_mod.ENV_KEYS:
            typer.echo(f"{key}={env.get(key, '')}")
        return
    import os

    os.execvpe(cmd[0], cmd, env)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    sys.exit(main())
