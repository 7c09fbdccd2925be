"""sqlfluff on the dbt project: models, snapshots and singular tests follow warehouse/.sqlfluff.

No service needed: the jinja templater renders ref()/source()/config()/is_incremental() with
dbt's builtins and the project's macros, without a database or `dbt parse`.
"""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
from pathlib import Path

pytestmark = pytest.mark.unit

WAREHOUSE = Path(__file__).resolve().parents[1] / "warehouse"
PATHS = ["models", "snapshots", "tests"]


def _sqlfluff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    # from the project folder, as a person would run it: warehouse/.sqlfluff applies
    return subprocess.run([sys.executable, "-m", "sqlfluff", *args], cwd=WAREHOUSE, input=stdin,
                          capture_output=True, text=True, timeout=300)


def _violations(proc: subprocess.CompletedProcess) -> list[dict]:
    try:
        files = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"sqlfluff did not answer JSON (exit {proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}") from None
    return [{"file": f["filepath"], **v} for f in files for v in f["violations"]]


def test_the_dbt_sql_passes_sqlfluff():
    proc = _sqlfluff("lint", *PATHS, "--format", "json", "--nocolor")
    found = _violations(proc)
    lines = [f"{v['file']}:{v.get('start_line_no', '?')}:{v.get('start_line_pos', '?')} "
             f"{v['code']} {v['description']}" for v in found]
    assert not found, (f"{len(found)} sqlfluff violations (`cd warehouse && sqlfluff fix {' '.join(PATHS)}` "
                       "fixes most):\n" + "\n".join(lines[:100]))
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_every_model_file_was_linted():
    """A templating error would make sqlfluff skip a file quietly: count what it parsed."""
    proc = _sqlfluff("lint", *PATHS, "--format", "json", "--nocolor")
    linted = {Path(f["filepath"]).as_posix() for f in json.loads(proc.stdout)}
    expected = {p.relative_to(WAREHOUSE).as_posix() for d in PATHS for p in (WAREHOUSE / d).rglob("*.sql")}
    assert expected and expected == linted, sorted(expected ^ linted)


def test_the_rule_set_still_catches_sloppy_sql():
    """The configuration must keep rules on: implicit aliases, a bare join, mixed keyword case,
    an unqualified column in a join and trailing spaces are all reported."""
    sloppy = "SELECT p.id, nome  from {{ ref('stg_pessoas') }} p join x e on e.id = p.id \n"
    proc = _sqlfluff("lint", "-", "--format", "json", "--nocolor", stdin=sloppy)
    codes = {v["code"] for v in _violations(proc)}
    assert {"AL01", "AM05", "CP01", "RF02", "LT01"} <= codes, codes
