"""Airflow 3 as a native service: API server + scheduler + DAG processor + triggerer.

One stack service, one process group. Its command is this module's small supervisor
(``python -m jornada.stack.airflow run``) rather than ``airflow standalone``, for two reasons:

* ``airflow standalone`` starts the scheduler's and the triggerer's *log servers*, which listen on
  every interface (ports 8793/8794, hard-coded to ``0.0.0.0``/``::``). The course binds every
  service to 127.0.0.1, so the supervisor starts the same four components itself, with
  ``--skip-serve-logs`` (the LocalExecutor writes task logs to local files that the API server
  reads directly; the log servers are only needed by remote workers);
* standalone prints a generated admin password to its log and otherwise decides users itself;
  here users come from ``.env``.

What it runs, all under ``AIRFLOW_HOME = <stack dir>/data/airflow``:

- metadata database: SQLite (``airflow.db``), migrated on start (``airflow db migrate`` is a
  no-op when up to date). Enough for a laptop with the LocalExecutor and ``parallelism=2``;
  production uses Postgres — lesson 05 says why (concurrent writers).
- ``airflow api-server`` on 127.0.0.1:``AIRFLOW_PORT`` (one worker): the UI, REST API v2 and the
  *execution API* that task processes call back into (Airflow 3's task SDK: tasks no longer
  talk to the database directly).
- ``airflow scheduler`` (LocalExecutor, ``parallelism=2``) and ``airflow dag-processor`` (parses
  ``dags/`` of this repository). ``airflow triggerer`` runs deferrable tasks, which the course's
  DAGs do not use: it costs ~330 MB, so it starts only with ``JORNADA_AIRFLOW_TRIGGERER=1``
  (without it the health endpoint and the UI list the triggerer as unhealthy — expected).
- auth: Airflow 3's default SimpleAuthManager. ``airflow users create`` belonged to the FAB
  auth manager (a provider package now); SimpleAuthManager takes its users from the config
  (``[core] simple_auth_manager_users = admin:admin``) and their passwords from a JSON file —
  written here at every start from ``AIRFLOW_ADMIN_USER``/``AIRFLOW_ADMIN_PASSWORD`` of .env.

Health = ``GET /api/v2/monitor/health`` reports the metadatabase, scheduler and DAG processor
healthy. The environment handed to Airflow pins the stack's endpoints (ports, stack dir), so
tasks reach the same Postgres/Kafka the stack started, whatever shell triggers them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..config import ENV_EXAMPLE, REPO_ROOT, Settings
from .runtime import Health, Service, ServiceContext, StackError

DAGS_FOLDER = REPO_ROOT / "dags"
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}
# The triggerer runs deferred tasks (deferrable sensors/operators). The course's DAGs defer
# nothing and it costs ~330 MB RSS with its child — the difference between the whole native
# stack fitting the 3 GB budget or not — so it starts only with JORNADA_AIRFLOW_TRIGGERER=1
# (the UI then stops listing it as unhealthy).
TRIGGERER = {"triggerer": ["triggerer", "--skip-serve-logs"]}


def airflow_port(s: Settings) -> int:
    return int(s.get("AIRFLOW_PORT", "8080"))


def airflow_url(s: Settings) -> str:
    return (s.get("JORNADA_AIRFLOW_URL") or f"http://127.0.0.1:{airflow_port(s)}").rstrip("/")


def airflow_home(s: Settings) -> Path:
    return s.stack_dir / "data" / "airflow"


def admin_credentials(s: Settings) -> tuple[str, str]:
    user = s.get("AIRFLOW_ADMIN_USER") or "admin"
    password = s.get("AIRFLOW_ADMIN_PASSWORD") or ""
    if password in ("", "generate"):
        raise StackError("AIRFLOW_ADMIN_PASSWORD is not set — run `make env` (or `jornada env`): "
                         "it adds the keys .env is missing, with generated secrets")
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


def _course_environment(s: Settings) -> dict[str, str]:
    """Non-secret course settings, pinned so DAG tasks use the stack that started Airflow."""
    from dotenv import dotenv_values

    keys = set(dotenv_values(ENV_EXAMPLE)) if ENV_EXAMPLE.exists() else set()
    out = {}
    for key, value in s.raw.items():
        if value is None or "PASSWORD" in key or "SECRET" in key or "TOKEN" in key:
            continue
        if key in keys or key.startswith("JORNADA_"):
            out[key] = str(value)
    out["JORNADA_STACK_DIR"] = str(s.stack_dir)
    return out


def airflow_env(s: Settings) -> dict[str, str]:
    """Environment of every Airflow process (and of `airflow` CLI calls against this service)."""
    home = airflow_home(s)
    user, _ = admin_credentials(s)
    port = airflow_port(s)
    env = dict(os.environ)
    # a Jupyter kernel exports FORCE_COLOR: `airflow … --output json` would then print ANSI codes
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env.update(_course_environment(s))
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


# ---- the service --------------------------------------------------------------------------
def _prepare(ctx: ServiceContext) -> None:
    if not DAGS_FOLDER.is_dir():
        raise StackError(f"{DAGS_FOLDER} is missing — the DAGs live in the repository's dags/ folder")
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    write_passwords_file(ctx.settings)


def _env(ctx: ServiceContext) -> dict[str, str]:
    env = airflow_env(ctx.settings)
    env.update(_write_secrets(airflow_home(ctx.settings)))
    return env


def _command(ctx: ServiceContext) -> list[str]:
    return [sys.executable, "-m", "jornada.stack.airflow", "run"]


def health(s: Settings, timeout_s: float = 3.0) -> Health:
    import requests

    url = airflow_url(s) + "/api/v2/monitor/health"
    try:
        body = requests.get(url, timeout=timeout_s).json()
    except requests.RequestException as exc:
        return Health(False, f"{airflow_url(s)}: {type(exc).__name__}")
    except ValueError:
        return Health(False, f"{url}: not Airflow's API server")
    parts = {k: (v or {}).get("status") for k, v in body.items() if isinstance(v, dict)}
    needed = ("metadatabase", "scheduler", "dag_processor")
    bad = [k for k in needed if parts.get(k) != "healthy"]
    if bad:
        return Health(False, "starting: " + ", ".join(f"{k}={parts.get(k)}" for k in bad))
    try:
        from importlib.metadata import version

        v = version("apache-airflow")
    except Exception:  # noqa: BLE001
        v = "3"
    return Health(True, f"Airflow {v}: " + ", ".join(f"{k} {v}" for k, v in parts.items())
                  + f"; UI {airflow_url(s)}")


def airflow_service() -> Service:
    return Service(
        name="airflow", describe="Airflow 3 (API server + UI, scheduler, DAG processor)",
        port=airflow_port, command=_command, health=lambda ctx: health(ctx.settings),
        prepare=_prepare, env=_env, endpoint=airflow_url,
        start_timeout_s=240, stop_timeout_s=45, depends_on=("oltp", "olap"),
    )


# ---- the supervisor (runs inside the service's process group) --------------------------------
def _migrate_if_needed(env: dict[str, str]) -> None:
    """`airflow db migrate` once per Airflow version (it costs ~10 s even when up to date)."""
    from importlib.metadata import version

    home = Path(env["AIRFLOW_HOME"])
    stamp = home / ".migrated"
    wanted = version("apache-airflow")
    if stamp.exists() and stamp.read_text().strip() == wanted and (home / "airflow.db").exists():
        return
    print(f"supervisor: airflow db migrate ({wanted})", flush=True)
    subprocess.run([airflow_executable(), "db", "migrate"], env=env, check=True)
    stamp.write_text(wanted)


def supervise() -> int:
    """Start the four components; when one dies or SIGTERM/SIGINT arrives, stop them all."""
    env = dict(os.environ)
    _migrate_if_needed(env)
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    components = dict(COMPONENTS)
    if env.get("JORNADA_AIRFLOW_TRIGGERER", "").lower() in ("1", "true", "yes"):
        components.update(TRIGGERER)
    for name, args in components.items():
        print(f"supervisor: starting {name}", flush=True)
        children[name] = subprocess.Popen([airflow_executable(), *args], env=env)
    code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"supervisor: {name} exited with {proc.returncode} — stopping the others",
                      flush=True)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 30
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


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
        resp = self.http.request(method, f"{self.base}/api/v2{path}", timeout=self.timeout, **kwargs)
        if resp.status_code >= 400:
            raise StackError(f"Airflow API {method} {path} → {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def dags(self) -> list[dict]:
        return self.call("GET", "/dags", params={"limit": 100})["dags"]

    def wait_dag(self, dag_id: str, timeout_s: float = 120) -> dict:
        """Wait until the DAG processor has parsed ``dag_id`` (new files take up to ~30 s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.call("GET", f"/dags/{dag_id}")
            except StackError:
                if time.monotonic() > deadline:
                    errors = self.call("GET", "/importErrors").get("import_errors", [])
                    raise StackError(f"DAG {dag_id} not parsed after {timeout_s:.0f}s; import errors: "
                                     f"{[e.get('filename') for e in errors]}") from None
                time.sleep(2)

    def unpause(self, dag_id: str) -> dict:
        return self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> dict:
        from datetime import datetime, timezone

        return self.call("POST", f"/dags/{dag_id}/dagRuns",
                         json={"logical_date": datetime.now(timezone.utc).isoformat(), "conf": conf or {}})

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 600, poll_s: float = 3) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise StackError(f"{dag_id} run {run_id} still {run['state']} after {timeout_s:.0f}s")
            time.sleep(poll_s)

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


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        sys.exit(supervise())
    print("usage: python -m jornada.stack.airflow run   (started by `jornada stack up airflow`)")
    sys.exit(2)
