"""Airflow 3 as native services: API server, scheduler and DAG processor, one process each.

Each component is a stack service of its own (``airflow-api``, ``airflow-scheduler``,
``airflow-dag-processor``; ``jornada stack up airflow`` starts the group), rather than
``airflow standalone``, for two reasons:

* ``airflow standalone`` starts the scheduler's and the triggerer's *log servers*, which listen on
  every interface (ports 8793/8794, hard-coded to ``0.0.0.0``/``::``). The course binds every
  service to 127.0.0.1, so the components run with ``--skip-serve-logs`` (the LocalExecutor
  writes task logs to local files that the API server reads directly; the log servers are only
  needed by remote workers);
* standalone prints a generated admin password to its log and otherwise decides users itself;
  here users come from ``.env``.

What runs, all under ``AIRFLOW_HOME = <stack dir>/data/airflow-api``:

- metadata database: SQLite (``airflow.db``), migrated before the API server starts
  (``airflow db migrate`` once per Airflow version). Enough for a laptop with the LocalExecutor
  and ``parallelism=2``; production uses Postgres — lesson 05 says why (concurrent writers).
- ``airflow api-server`` on 127.0.0.1:``AIRFLOW_PORT`` (one worker): the UI, REST API v2 and the
  *execution API* that task processes call back into (Airflow 3's task SDK: tasks no longer
  talk to the database directly).
- ``airflow scheduler`` (LocalExecutor, ``parallelism=2``) and ``airflow dag-processor`` (parses
  ``dags/`` of this repository). ``airflow triggerer`` runs deferrable tasks, which the course's
  DAGs do not use: it costs ~330 MB, so it is a service only with
  ``JORNADA_AIRFLOW_TRIGGERER=true`` (without it the UI lists the triggerer as unhealthy —
  expected).
- auth: Airflow 3's default SimpleAuthManager. ``airflow users create`` belonged to the FAB
  auth manager (a provider package now); SimpleAuthManager takes its users from the config
  (``[core] simple_auth_manager_users = admin:admin``) and their passwords from a JSON file —
  written here at every start from ``AIRFLOW_ADMIN_USER``/``AIRFLOW_ADMIN_PASSWORD`` of .env.

Health: ``GET /api/v2/monitor/health`` of the API server reports the metadatabase, the
scheduler and the DAG processor (each component's heartbeat in the metadata database): each
service is healthy when its own part is. The environment handed to Airflow pins the stack's
endpoints (ports, stack dir), so tasks reach the same Postgres/Kafka the stack started, whatever
shell triggers them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..config import REPO_ROOT, Settings
from .runtime import Health, Service, ServiceContext, StackError
from datetime import UTC

DAGS_FOLDER = REPO_ROOT / "dags"


def airflow_port(s: Settings) -> int:
    return s.airflow_port


def airflow_url(s: Settings) -> str:
    return s.airflow_url


def airflow_home(s: Settings) -> Path:
    return s.stack_dir / "data" / "airflow-api"


def sandbox_home(s: Settings, name: str) -> Path:
    """A private AIRFLOW_HOME under the stack's data (a lesson's own metadata, never the
    service's): created 0700 like every data folder, since it holds a passwords file."""
    from .runtime import ensure_private

    home = s.stack_dir / "data" / name
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    ensure_private(home)
    return home


def admin_credentials(s: Settings) -> tuple[str, str]:
    user, password = s.airflow_admin_user, s.airflow_admin_password.get_secret_value()
    if ":" in user or "," in user:
        raise StackError(f"AIRFLOW_ADMIN_USER={user!r}: no ':' or ',' allowed (Airflow's user list format)")
    return user, password


def venv_bin() -> Path:
    return Path(sys.executable).parent


def airflow_executable() -> str:
    exe = venv_bin() / "airflow"
    if not exe.exists():
        raise StackError("the `airflow` CLI is not installed in the venv — run `make setup`")
    return str(exe)


def airflow_env(s: Settings) -> dict[str, str]:
    """Environment of every Airflow process (and of `airflow` CLI calls against this service)."""
    home = airflow_home(s)
    user, _ = admin_credentials(s)
    port = airflow_port(s)
    env = dict(os.environ)
    # a Jupyter kernel exports FORCE_COLOR: `airflow … --output json` would then print ANSI codes
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env.update(s.public_environment())  # non-secret settings: tasks use the stack that started us
    env.update({
        "PATH": f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # a laptop: at most 2 task processes at a time (each imports pandas, dbt runs, ...)
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        # new DAG files show up within 30 s (default 5 min); one parsing process is plenty
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__COLORED_CONSOLE_LOG": "False",
    })
    return env


def write_passwords_file(s: Settings) -> Path:
    user, password = admin_credentials(s)
    home = airflow_home(s)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "passwords.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({user: password}) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def _write_secrets(home: Path) -> dict[str, str]:
    """Stable secrets shared by every component (JWTs for the UI and the execution API)."""
    import secrets

    path = home / "secrets.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {"secret_key": secrets.token_urlsafe(32), "jwt_secret": secrets.token_urlsafe(32)}
        path.write_text(json.dumps(data))
        path.chmod(0o600)
    return {"AIRFLOW__API__SECRET_KEY": data["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": data["jwt_secret"]}


# ---- the services -------------------------------------------------------------------------
COMPONENTS = {
    # service name: (airflow sub-command, its part of /api/v2/monitor/health)
    "airflow-api": (["api-server"], "metadatabase"),
    "airflow-scheduler": (["scheduler", "--skip-serve-logs"], "scheduler"),
    "airflow-dag-processor": (["dag-processor"], "dag_processor"),
}
TRIGGERER = {"airflow-triggerer": (["triggerer", "--skip-serve-logs"], "triggerer")}


def _prepare_api(ctx: ServiceContext) -> None:
    if not DAGS_FOLDER.is_dir():
        raise StackError(f"{DAGS_FOLDER} is missing — the DAGs live in the repository's dags/ folder")
    home = airflow_home(ctx.settings)
    home.mkdir(parents=True, exist_ok=True)
    write_passwords_file(ctx.settings)
    _migrate_if_needed(_env(ctx))


def _env(ctx: ServiceContext) -> dict[str, str]:
    env = airflow_env(ctx.settings)
    env.update(_write_secrets(airflow_home(ctx.settings)))
    return env


def health(s: Settings, timeout_s: float = 3.0, parts_needed=("metadatabase", "scheduler",
                                                              "dag_processor")) -> Health:
    import requests

    url = airflow_url(s) + "/api/v2/monitor/health"
    try:
        body = requests.get(url, timeout=timeout_s).json()
    except requests.RequestException as exc:
        return Health(False, f"{airflow_url(s)}: {type(exc).__name__}")
    except ValueError:
        return Health(False, f"{url}: not Airflow's API server")
    parts = {k: (v or {}).get("status") for k, v in body.items() if isinstance(v, dict)}
    bad = [k for k in parts_needed if parts.get(k) != "healthy"]
    if bad:
        return Health(False, "starting: " + ", ".join(f"{k}={parts.get(k)}" for k in bad))
    try:
        from importlib.metadata import version

        v = version("apache-airflow")
    except Exception:  # noqa: BLE001
        v = "3"
    return Health(True, f"Airflow {v}: " + ", ".join(f"{k} {parts[k]}" for k in parts_needed)
                  + f"; UI {airflow_url(s)}")


def airflow_services(s: Settings) -> list[Service]:
    """The API server first (it migrates the metadata database), then the other components."""
    components = dict(COMPONENTS, **(TRIGGERER if s.jornada_airflow_triggerer else {}))
    services = []
    for name, (args, part) in components.items():
        is_api = name == "airflow-api"
        services.append(Service(
            name=name, group="airflow",
            describe=f"Airflow 3 {args[0]}" + (" (UI + REST API)" if is_api else ""),
            port=airflow_port if is_api else None,
            command=lambda ctx, args=args: [airflow_executable(), *args],
            health=lambda ctx, part=part: health(ctx.settings, ctx.service.health_timeout_s, (part,)),
            prepare=_prepare_api if is_api else None, env=_env,
            endpoint=airflow_url if is_api else (lambda s: "via airflow-api"),
            depends_on=("oltp", "olap") if is_api else ("airflow-api",),
            start_timeout_s=240 if is_api else 120, stop_timeout_s=45,
        ))
    return services


def _migrate_if_needed(env: dict[str, str]) -> None:
    """`airflow db migrate` once per Airflow version (it costs ~10 s even when up to date)."""
    from importlib.metadata import version

    home = Path(env["AIRFLOW_HOME"])
    stamp = home / ".migrated"
    wanted = version("apache-airflow")
    if stamp.exists() and stamp.read_text().strip() == wanted and (home / "airflow.db").exists():
        return
    result = subprocess.run([airflow_executable(), "db", "migrate"], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise StackError(f"airflow db migrate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    stamp.write_text(wanted)


# ---- REST API v2 helpers (lesson 05, tests, benchmark) --------------------------------------
class AirflowApi:
    """A logged-in client of the REST API v2 (token from /auth/token, SimpleAuthManager)."""

    def __init__(self, s: Settings | None = None, timeout_s: float = 10.0):
        import requests

        from ..config import settings as load_settings

        self.s = s or load_settings()
        self.base = airflow_url(self.s)
        self.timeout = timeout_s
        self.http = requests.Session()
        user, password = admin_credentials(self.s)
        try:
            resp = self.http.post(f"{self.base}/auth/token", json={"username": user, "password": password},
                                  timeout=timeout_s)
        except requests.RequestException as exc:
            raise StackError(f"Airflow not reachable at {self.base} — `make up` "
                             f"(or `jornada stack up airflow`) ({type(exc).__name__})") from None
        if resp.status_code not in (200, 201):
            raise StackError(f"Airflow login as {user!r} failed ({resp.status_code}): {resp.text[:200]} — "
                             "does AIRFLOW_ADMIN_PASSWORD in .env match? restart the airflow service")
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs):
        import requests

        from ..waits import retrying

        # a busy API server (one worker on a loaded laptop) may miss a read timeout: try again;
        # only reads are retried, so a POST is never sent twice
        attempts = 3 if method == "GET" else 1
        for attempt in retrying(requests.Timeout, attempts=attempts, backoff_s=1):
            with attempt:
                resp = self.http.request(method, f"{self.base}/api/v2{path}", timeout=self.timeout,
                                         **kwargs)
        if resp.status_code >= 400:
            raise StackError(f"Airflow API {method} {path} → {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def dags(self) -> list[dict]:
        return self.call("GET", "/dags", params={"limit": 100})["dags"]

    def wait_dag(self, dag_id: str, timeout_s: float = 120) -> dict:
        """Wait until the DAG processor has parsed ``dag_id`` (new files take up to ~30 s)."""
        from ..waits import TimedOut, poll_until

        def parsed():
            try:
                return self.call("GET", f"/dags/{dag_id}")
            except StackError:
                return None

        try:
            return poll_until(parsed, timeout_s=timeout_s, interval_s=2, what=f"DAG {dag_id}")
        except TimedOut:
            errors = self.call("GET", "/importErrors").get("import_errors", [])
            raise StackError(f"DAG {dag_id} not parsed after {timeout_s:.0f}s; import errors: "
                             f"{[e.get('filename') for e in errors]}") from None

    def unpause(self, dag_id: str) -> dict:
        return self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> dict:
        from datetime import datetime

        return self.call("POST", f"/dags/{dag_id}/dagRuns",
                         json={"logical_date": datetime.now(UTC).isoformat(), "conf": conf or {}})

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 600, poll_s: float = 3) -> dict:
        from ..waits import TimedOut, poll_until

        try:
            return poll_until(lambda: self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"),
                              timeout_s=timeout_s, interval_s=poll_s,
                              done=lambda run: run["state"] in ("success", "failed"))
        except TimedOut as exc:
            raise StackError(f"{dag_id} run {run_id} still {exc.last['state']} after "
                             f"{timeout_s:.0f}s") from None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        body = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {t["task_id"]: t["state"] for t in body["task_instances"]}


def cli(*args: str, s: Settings | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run an ``airflow`` CLI command against the native service's home (e.g. ``dags list``)."""
    from ..config import settings as load_settings

    s = s or load_settings()
    env = airflow_env(s)
    env.update(_write_secrets(airflow_home(s)))
    result = subprocess.run([airflow_executable(), *args], env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise StackError(f"`airflow {' '.join(args)}` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


