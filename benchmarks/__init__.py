"""The course's benchmarks (`make bench` → `jornada bench`): JSON numbers, never timed asserts."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path


def isolate_stack() -> None:
    """Benchmarks reset their database: give them their own Postgres, never the learner's."""
    import socket

    from jornada.config import ensure_env_file, reload

    ensure_env_file()
    os.environ["JORNADA_STACK_DIR"] = ".stack/bench"
    for key in ("OLTP_PORT", "OLAP_PORT"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ[key] = str(s.getsockname()[1])
    reload()


def run(output: Path, only: list[str] | None = None) -> dict:
    """Every suite (or ``only`` those), on an isolated stack; results written to ``output``."""
    isolate_stack()
    from jornada.services import stack
    from benchmarks import (bench_cdc, bench_fraud, bench_generators, bench_geo, bench_lake, bench_scoring,
                            bench_warehouse)

    st = stack()
    st.up(["oltp"], log=lambda m: print(m, file=sys.stderr))
    suites = {"geo": bench_geo.run, "generators": bench_generators.run, "cdc": bench_cdc.run,
              "warehouse": bench_warehouse.run, "lake": bench_lake.run, "fraud": bench_fraud.run,
              "scoring": bench_scoring.run}
    results = {"machine": {"cpus": os.cpu_count(), "arch": platform.machine(),
                           "python": platform.python_version()},
               "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        for name, fn in suites.items():
            if only and name not in only:
                continue
            print(f"running {name} …", file=sys.stderr)
            t0 = time.monotonic()
            results[name] = fn()
            results[name]["bench_seconds"] = round(time.monotonic() - t0, 1)
    finally:
        st.down(log=lambda m: print(m, file=sys.stderr))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    return results
