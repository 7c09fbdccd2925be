"""Kafka Connect's REST API: register the connectors, read their state, restart them."""

from __future__ import annotations

from collections.abc import Callable

from ..config import REPO_ROOT, Settings, settings as load_settings
from ..db import ServiceUnavailable, connect
from ..kafka import up_hint
from .config import (CONNECTOR, CdcError, ConnectorFailed, captured_tables, connector_config,
                     connector_template, register_files)
from .postgres import publication_tables, setup_postgres, slot_lag


def connect_url(s: Settings | None = None) -> str:
    return (s or load_settings()).connect_url


def bootstrap_servers(s: Settings | None = None) -> str:
    return (s or load_settings()).kafka_bootstrap


def _log_hint(s: Settings, service: str) -> str:
    path = s.stack_dir / "logs" / f"{service}.log"
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


class _Busy(Exception):
    """Connect answered "try again": a rebalance (409) or a herder still starting (500 timed out)."""

    def __init__(self, resp):
        super().__init__(resp.status_code)
        self.resp = resp


def _rest(method: str, path: str, s: Settings | None = None, *, json_body=None,
          timeout_s: float = 5.0, retries: int = 8, ok=(200, 201, 202, 204, 404)):
    """One Kafka Connect REST call with the errors a learner can act on.

    A refused connection fails at once; a worker that is alive but busy (just (re)started and
    rebalancing on a loaded machine) gets up to three tries on a read timeout and ``retries``
    tries on 409 / "Request timed out".
    """
    import requests
    from tenacity import RetryError

    from ..waits import retrying

    s = s or load_settings()
    url = connect_url(s) + path

    def call():
        try:
            resp = requests.request(method, url, json=json_body, timeout=timeout_s)
        except requests.ConnectionError:
            raise CdcError(f"Kafka Connect not reachable at {connect_url(s)} — "
                           f"{up_hint(s, 'kafka connect')}, then `jornada cdc status`") from None
        if resp.status_code == 409 or (resp.status_code >= 500 and "timed out" in resp.text.lower()):
            raise _Busy(resp)
        return resp

    try:
        for outer in retrying(requests.Timeout, attempts=3, backoff_s=0.2):
            with outer:
                for inner in retrying(_Busy, attempts=retries, backoff_s=0.5, max_backoff_s=3):
                    with inner:
                        resp = call()
    except requests.Timeout:
        raise CdcError(f"Kafka Connect at {connect_url(s)} did not answer within {timeout_s:.0f}s "
                       f"(3 tries) — is it still starting? see {_log_hint(s, 'connect')}") from None
    except (_Busy, RetryError) as exc:
        last = exc.resp if isinstance(exc, _Busy) else None
        raise CdcError(f"Kafka Connect {method} {path} kept answering "
                       f"{last.status_code if last is not None else 'busy'} "
                       f"({_error_message(last) if last is not None else ''}) — "
                       f"see {_log_hint(s, 'connect')}") from None
    if resp.status_code not in ok:
        raise CdcError(f"Kafka Connect {method} {path} answered {resp.status_code}: "
                       f"{_error_message(resp)} — see {_log_hint(s, 'connect')}")
    return resp


def _error_message(resp) -> str:
    try:
        return resp.json().get("message", resp.text)[:500]
    except ValueError:
        return resp.text[:500]


def connectors(s: Settings | None = None) -> list[str]:
    return _rest("GET", "/connectors", s).json()


def connector_status(name: str = CONNECTOR, s: Settings | None = None) -> dict | None:
    """``{"connector": "RUNNING", "tasks": [{"id": 0, "state": "RUNNING", "trace": None}], ...}``
    or None when the connector is not registered."""
    resp = _rest("GET", f"/connectors/{name}/status", s)
    if resp.status_code == 404:
        return None
    body = resp.json()
    return {
        "name": name,
        "connector": body.get("connector", {}).get("state"),
        "connector_trace": body.get("connector", {}).get("trace"),
        "worker": body.get("connector", {}).get("worker_id"),
        "tasks": [{"id": t.get("id"), "state": t.get("state"), "trace": t.get("trace")}
                  for t in body.get("tasks", [])],
    }


def _first_line(trace: str | None) -> str:
    if not trace:
        return "no trace"
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    # Connect wraps the cause: prefer the innermost "Caused by" line, it names the real problem
    causes = [line for line in lines if line.startswith("Caused by:")]
    return (causes[-1].removeprefix("Caused by:").strip() if causes else lines[0])[:300]


def check_connector(name: str = CONNECTOR, s: Settings | None = None) -> dict:
    """The connector's status; raises :class:`ConnectorFailed` / :class:`CdcError` when not usable."""
    s = s or load_settings()
    st = connector_status(name, s)
    fix = f"see {_log_hint(s, 'connect')}; fix, then `jornada cdc register`"
    if st is None:
        raise CdcError(f"connector {name} is not registered in Kafka Connect at {connect_url(s)} "
                       "— run `jornada cdc register` (or `make up`)")
    if st["connector"] == "FAILED":
        raise ConnectorFailed(f"connector {name} is FAILED: {_first_line(st['connector_trace'])} — {fix}")
    for task in st["tasks"]:
        if task["state"] == "FAILED":
            raise ConnectorFailed(f"connector {name} task {task['id']} is FAILED: "
                                  f"{_first_line(task['trace'])} — {fix}")
    return st


def wait_running(name: str = CONNECTOR, s: Settings | None = None, timeout_s: float = 60) -> dict:
    """Wait until the connector and all its tasks are RUNNING (raises on FAILED or timeout)."""
    from ..waits import TimedOut, poll_until

    s = s or load_settings()

    def state():  # None right after registration (no status yet); raises on FAILED
        return check_connector(name, s) if connector_status(name, s) is not None else None

    def running(st) -> bool:
        return bool(st and st["connector"] == "RUNNING" and st["tasks"]
                    and all(t["state"] == "RUNNING" for t in st["tasks"]))

    try:
        return poll_until(state, timeout_s=timeout_s, interval_s=0.5, done=running)
    except TimedOut as exc:
        raise CdcError(f"connector {name} not RUNNING after {timeout_s:.0f}s (status {exc.last}) — "
                       f"see {_log_hint(s, 'connect')}") from None


def register(name: str = CONNECTOR, s: Settings | None = None) -> str:
    """Create or update the connector from its register JSON; returns created/updated/unchanged.

    Idempotent: the running config is compared first, so an unchanged connector is not touched.
    A FAILED connector or task is restarted (the usual fix: correct the cause, then register).
    """
    s = s or load_settings()
    desired = connector_config(name, s)
    current = _rest("GET", f"/connectors/{name}/config", s)
    if current.status_code == 200:
        running = {k: v for k, v in current.json().items() if k != "name"}
        if running == desired:
            st = connector_status(name, s)
            failed = st and (st["connector"] == "FAILED" or any(t["state"] == "FAILED" for t in st["tasks"]))
            if failed:
                _rest("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true", s)
                return "restarted"
            return "unchanged"
    resp = _rest("PUT", f"/connectors/{name}/config", s, json_body=desired, timeout_s=30,
                 ok=(200, 201))
    return "created" if resp.status_code == 201 else "updated"


def register_all(s: Settings | None = None) -> dict[str, str]:
    return {name: register(name, s) for name in register_files()}


def ensure_capture(s: Settings | None = None, log: Callable[[str], None] = print,
                   wait: bool = True, timeout_s: float = 60) -> dict:
    """Postgres side + every connector registered and RUNNING. Safe to call any number of times."""
    s = s or load_settings()
    report = {}
    for name in register_files():
        pg = setup_postgres(s, name)
        changed = {k: v for k, v in pg.items() if v not in ("ok", [], None)}
        if changed:
            log(f"cdc: Postgres prepared for {name}: {changed}")
        state = register(name, s)
        if state != "unchanged":
            log(f"cdc: connector {name} {state} at {connect_url(s)}")
        if wait:
            wait_running(name, s, timeout_s=timeout_s)
        report[name] = {"postgres": pg, "connector": state}
    return report


def put_connector_config(name: str, config: dict, s: Settings | None = None) -> bool:
    """Create or replace a connector with exactly ``config``; True when it was created."""
    return _rest("PUT", f"/connectors/{name}/config", s, json_body=config, timeout_s=30,
                 ok=(200, 201)).status_code == 201


def delete_connector(name: str = CONNECTOR, s: Settings | None = None) -> bool:
    """Remove the connector from Connect (its replication slot stays)."""
    return _rest("DELETE", f"/connectors/{name}", s, timeout_s=30).status_code in (200, 204)


def restart_connector(name: str = CONNECTOR, s: Settings | None = None) -> None:
    _rest("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=false", s)


def status(s: Settings | None = None, name: str = CONNECTOR) -> dict:
    """Everything a learner checks: worker, connector and task states, publication, slot lag.

    Never raises for a stopped service: each part says what is wrong and how to fix it.
    """
    s = s or load_settings()
    out: dict = {"connect_url": connect_url(s), "bootstrap_servers": bootstrap_servers(s),
                 "connector": name, "problems": []}
    try:
        st = connector_status(name, s)
        out["status"] = st
        if st is None:
            out["problems"].append(f"connector {name} is not registered — `jornada cdc register`")
        else:
            try:
                check_connector(name, s)
            except CdcError as exc:
                out["problems"].append(str(exc))
    except CdcError as exc:
        out["status"] = None
        out["problems"].append(str(exc))
    try:
        publication = connector_template(name)["publication.name"]
        with connect(s.oltp) as conn:
            published = publication_tables(conn, publication)
        wanted = captured_tables(name)
        out["publication"] = {"name": publication, "tables": sorted(published),
                              "missing": [t for t in wanted if t not in published],
                              "extra": sorted(set(published) - set(wanted))}
        if out["publication"]["missing"]:
            out["problems"].append(
                f"tables {out['publication']['missing']} are not in publication {publication}: their "
                "changes are NOT captured (dropped and re-created?) — `jornada cdc register` adds them")
        out["slot"] = slot_lag(s, name)
        if out["slot"] is None:
            out["problems"].append(f"replication slot {connector_template(name)['slot.name']} does not "
                                   "exist yet (the connector creates it when it starts)")
    except ServiceUnavailable as exc:
        out["problems"].append(str(exc))
    return out
