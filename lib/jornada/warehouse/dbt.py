"""Running dbt on warehouse/ with the course's connection, failures reported by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from ..config import REPO_ROOT, Settings, settings as load_settings
from ..db import connect
from .mirror import DbtError, WarehouseError

DBT_PROJECT_DIR = REPO_ROOT / "warehouse"
# dbt commands that never open a connection
OFFLINE_COMMANDS = {"parse", "deps", "clean", "ls", "list", "init", "--version", "--help", "-h"}


# ---- dbt -------------------------------------------------------------------------------------
def dbt_env(s: Settings | None = None) -> dict[str, str]:
    """Environment for the dbt CLI: OLAP_* for warehouse/profiles.yml, paths under the stack dir."""
    s = s or load_settings()
    base = s.stack_dir / "dbt"
    env = dict(os.environ)
    env.update({
        "OLAP_HOST": s.olap.host, "OLAP_PORT": str(s.olap.port), "OLAP_DB": s.olap.dbname,
        "OLAP_USER": s.olap.user, "OLAP_PASSWORD": s.olap.password,
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(base / "target"), "DBT_LOG_PATH": str(base / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false",
        "DBT_PARTIAL_PARSE": "true",
    })
    return env


def dbt_executable() -> str:
    exe = Path(sys.executable).with_name("dbt")
    if exe.exists():
        return str(exe)
    import shutil

    found = shutil.which("dbt")
    if not found:
        raise WarehouseError("the dbt CLI is not installed — run `make setup`")
    return found


@dataclass
class DbtResult:
    args: list[str]
    seconds: float
    output: str
    results: list[dict]

    def node(self, name: str) -> dict | None:
        """The result of one model/test/snapshot by its name (``fato_pedidos``)."""
        for r in self.results:
            if (r["unique_id"] or "").split(".")[2:3] == [name]:
                return r
        return None

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for r in self.results:
            counts[r["status"]] += 1
        return dict(counts)


def dbt(*args: str, s: Settings | None = None, check: bool = True,
        echo: Callable[[str], None] | None = None) -> DbtResult:
    """Run ``dbt <args>`` on warehouse/ against the OLAP database; raise DbtError on failure.

    The error names every failed model or test, with dbt's message (e.g. a test's failing
    row count), and the path of the full log.
    """
    s = s or load_settings()
    if not args or args[0] not in OFFLINE_COMMANDS:
        # fail in seconds naming the fix, not after dbt's own 6-9 s start and a database error
        connect(s.olap).close()
    env = dbt_env(s)
    target = Path(env["DBT_TARGET_PATH"])
    run_results = target / "run_results.json"
    run_results.unlink(missing_ok=True)
    cmd = [dbt_executable(), *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if echo:
            echo(line.rstrip("\n"))
    rc = proc.wait()
    output = "\n".join(lines)
    results = []
    if run_results.exists():
        try:
            for r in json.loads(run_results.read_text()).get("results", []):
                results.append({"unique_id": r.get("unique_id"), "status": r.get("status"),
                                "message": r.get("message"), "failures": r.get("failures"),
                                "seconds": r.get("execution_time"),
                                "rows": (r.get("adapter_response") or {}).get("rows_affected")})
        except ValueError:
            pass
    result = DbtResult(list(args), round(time.perf_counter() - t0, 2), output, results)
    if rc != 0 and check:
        failed = [r for r in results if r["status"] in ("error", "fail", "runtime error")]
        if failed:
            detail = "\n".join(f"  {r['status'].upper()}: {r['unique_id']}: {(r['message'] or '').strip()[:400]}"
                               for r in failed)
        else:  # failed before running anything (parse/compile/connection error)
            errs = [ln for ln in lines if "Error" in ln or "error" in ln.split(":")[0]]
            detail = "\n".join("  " + ln for ln in (errs or lines)[-15:])
        raise DbtError(f"`dbt {' '.join(args)}` failed (exit {rc}):\n{detail}\n"
                       f"  full log: {Path(env['DBT_LOG_PATH']) / 'dbt.log'}", failed, output)
    return result
