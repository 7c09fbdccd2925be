"""Run the course headless: every lesson (and solution) through papermill, plus a run summary.

Notebooks report the numbers worth checking with :func:`record` (e.g. fraud rates); the runner
collects them per notebook into ``output/summary.json`` and a readable ``summary.md``. Tests use
the same functions, so what CI asserts is what `make course` reports.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .config import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
SOLUTIONS = REPO_ROOT / "solutions"
# A lesson cell whose output is one of the lesson's facts carries this line: nbval's lax mode
# (`pytest --nbval-lax`) compares that output with the committed one, and so does
# :func:`checked_output_differences` on a lesson already executed (tests/test_nbval.py).
CHECK_OUTPUT_MARKER = "# NBVAL_CHECK_OUTPUT"
CHECKED_EXECUTION_COUNT = 1  # what a marked cell is committed with (nbval skips unrun cells)
RECORD_ENV = "JORNADA_RECORD_FILE"
OUTPUT_ENV = "JORNADA_OUTPUT_DIR"  # where notebooks save maps and other artefacts
MAPS_DIR = "maps"                  # under OUTPUT_ENV: the saved maps, each with its screenshot
DEFAULT_TIMEOUT_S = 900


_UNSET = object()


def record(key, value=_UNSET) -> None:
    """Remember results of this notebook for the run summary and the tests (no-op in the lab).

    ``record("key", value)``, or ``record({"key": value, ...})`` — the form the lessons use: one
    call in a hidden cell at the end of a section (tagged ``remove-input``, source collapsed).
    """
    values = dict(key) if value is _UNSET else {key: value}
    target = os.environ.get(RECORD_ENV)
    if not target:
        return
    path = Path(target)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(values)
    path.write_text(json.dumps(data, indent=2, default=str))


def output_is_checked(cell) -> bool:
    """Whether nbval checks this cell's output: a line that is exactly the marker comment
    (nbval's own rule: ``#`` and spaces stripped, the rest equals NBVAL_CHECK_OUTPUT)."""
    return cell.get("cell_type") == "code" and any(
        line.strip().lstrip("#").strip() == CHECK_OUTPUT_MARKER.lstrip("# ")
        for line in cell.get("source", "").splitlines() if line.strip().startswith("#"))


def keep_checked_outputs(executed: Path, lesson: Path) -> list[str]:
    """Copy the outputs of the marked cells of an executed lesson into the committed lesson.

    Cells are matched by id; every other cell of the lesson keeps no output and no execution
    count. A marked cell gets the constant count 1: nbval compares only cells that were run (count
    set), and a constant keeps the diff to the facts that changed. Returns the ids of the cells
    whose committed output changed.
    """
    import nbformat

    ran = {c.get("id"): c for c in nbformat.read(executed, as_version=4).cells}
    nb = nbformat.read(lesson, as_version=4)
    changed = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs, count = [], None
        if output_is_checked(cell):
            count = CHECKED_EXECUTION_COUNT
            if cell.get("id") not in ran:
                raise ValueError(f"{executed.name} has no cell {cell.get('id')}: execute the current lesson")
            outputs = [{k: v for k, v in o.items() if k != "execution_count"}
                       for o in ran[cell.get("id")].get("outputs", [])]
            for out in outputs:
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = count
        outputs = [nbformat.from_dict(o) for o in outputs]
        if outputs != cell.get("outputs", []) or count != cell.get("execution_count"):
            changed.append(cell.get("id"))
        cell.outputs = outputs
        cell.execution_count = count
    lesson.write_text(nbformat.writes(nb) + "\n")
    return changed


# What nbval leaves out of a comparison (its defaults without nbdime: images are not compared)
_NBVAL_SKIP = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
               "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


def checked_output_differences(executed: Path, lesson: Path, sanitize_file: Path | None = None) -> list[str]:
    """nbval's lax comparison on a lesson that already ran: for each marked cell of ``lesson``,
    its committed outputs against the ones in ``executed`` (the same cell id), after the
    ``regex:``/``replace:`` pairs of ``sanitize_file``. Returns one readable diff per differing
    cell; [] when every fact matches.

    The same rules as ``pytest --nbval-lax --nbval-sanitize-with``: streams of one name are
    joined, each MIME type of the results is compared in order, images are not.
    """
    import difflib
    import re

    import nbformat
    from nbval.plugin import coalesce_streams, get_sanitize_patterns, transform_streams_for_comparison

    patterns = get_sanitize_patterns(sanitize_file.read_text()) if sanitize_file else []

    def flat(outputs) -> dict[str, list]:
        by_key: dict[str, list] = {}
        for out in transform_streams_for_comparison(coalesce_streams(outputs)):
            values = out["data"].items() if "data" in out else out.items()
            for key, value in values:
                if key in _NBVAL_SKIP or key == "data":
                    continue
                if isinstance(value, str):
                    for regex, replace in patterns:
                        value = re.sub(regex, replace, value)
                by_key.setdefault(key, []).append(value)
        return by_key

    ran = {c.get("id"): c for c in nbformat.read(executed, as_version=4).cells}
    diffs = []
    for cell in nbformat.read(lesson, as_version=4).cells:
        if not output_is_checked(cell) or cell.get("execution_count") is None:
            continue                                   # nbval skips a marked cell never run
        got = ran.get(cell.get("id"))
        if got is None:
            diffs.append(f"cell {cell.get('id')}: not in {executed.name} (it ran another version of the lesson)")
            continue
        want, have = flat(cell.get("outputs", [])), flat(got.get("outputs", []))
        if want == have:
            continue
        lines = [f"cell {cell.get('id')} of {lesson.name}:", cell.source.strip()]
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                lines += difflib.unified_diff(
                    "".join(map(str, want.get(key, []))).splitlines(),
                    "".join(map(str, have.get(key, []))).splitlines(),
                    f"committed {key}", f"executed {key}", lineterm="")
        diffs.append("\n".join(lines))
    return diffs


# ---- showing the code that teaches (lessons display real source and SQL, never copies) --------
def code_block(text: str, lang: str = "python", title: str | None = None):
    """``text`` as a fenced code block that Jupyter renders (IPython's Markdown)."""
    from IPython.display import Markdown

    head = f"`{title}`\n\n" if title else ""
    return Markdown(f"{head}```{lang}\n{text.rstrip()}\n```")


_CLAUSES = ("select", "from", "where", "using", "on conflict", "do update set", "and")


def layout_sql(sql: str) -> str:
    """One clause per line, one select or set item per line: generated one-line SQL made readable.

    Only the layout changes (line breaks at depth 0, outside quotes); the text stays the SQL that runs.
    """
    out: list[str] = []
    depth, quote, clause, i, low = 0, "", "", 0, sql.lower()
    while i < len(sql):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif depth == 0 and ch == " ":
            word = next((k for k in _CLAUSES if low.startswith(k + " ", i + 1)), None)
            if word and not (word == "from" and low[:i].endswith(("distinct", "delete"))):
                out.append("\n  " if word == "and" else "\n")
                clause = word if word != "and" else clause
                i += 1
                continue
        elif depth == 0 and ch == "," and clause in ("select", "do update set"):
            out.append(",\n    ")
            i += 1
            while i < len(sql) and sql[i] == " ":
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def lesson_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def execute(path: Path, out_dir: Path, parameters: dict | None = None,
            timeout: int = DEFAULT_TIMEOUT_S) -> dict:
    """Execute one notebook with papermill into out_dir; return its summary row (raises on error)."""
    import papermill as pm

    from .kernel import environment, kernel_config

    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / path.name
    records = out_dir / f"{path.stem}.records.json"
    records.unlink(missing_ok=True)
    started = time.monotonic()
    wall_started = time.time() - 1  # file mtimes are wall-clock (and may be coarse)
    with environment({RECORD_ENV: str(records), OUTPUT_ENV: str(out_dir.parent)}):
        pm.execute_notebook(str(path), str(out_nb), parameters=parameters or {}, kernel_name="python3",
                            cwd=str(path.parent), execution_timeout=timeout, progress_bar=False,
                            log_output=False, config=kernel_config())
    seconds = round(time.monotonic() - started, 1)
    return {"notebook": str(path.relative_to(REPO_ROOT)), "seconds": seconds,
            "status": "ok", "output": str(out_nb),
            "records": json.loads(records.read_text()) if records.exists() else {},
            "maps": screenshot_maps(out_dir.parent / MAPS_DIR, since=wall_started)}


def screenshot_maps(maps_dir: Path, since: float = 0.0) -> list[dict]:
    """A PNG next to every HTML map in ``maps_dir`` written at or after ``since`` (epoch seconds).

    Returns one row per map: ``html``, ``png`` (None when no browser is installed) and ``note``
    (the fix, then). The notebook saved the map; its picture is taken here, outside the kernel, so
    a learner's lab never needs Chromium and `make course` leaves both side by side.
    """
    from .browser import BrowserUnavailable, screenshot

    saved = sorted(p for p in maps_dir.glob("*.html") if p.stat().st_mtime >= since) if maps_dir.is_dir() else []
    rows = []
    for html in saved:
        try:
            rows.append({"html": str(html), "png": str(screenshot(html)), "note": ""})
        except BrowserUnavailable as exc:
            rows.append({"html": str(html), "png": None, "note": f"no screenshot: {exc}"})
    return rows


def run_course(out_dir: Path, include_solutions: bool = True, parameters: dict | None = None) -> list[dict]:
    from rich.console import Console

    console = Console()
    paths = lesson_paths() + (lesson_paths(SOLUTIONS) if include_solutions else [])
    rows: list[dict] = []
    failed = False
    for path in paths:
        sub = out_dir / path.parent.name
        with console.status(f"executing {path.parent.name}/{path.name} …"):
            try:
                row = execute(path, sub, parameters)
            except Exception as exc:  # papermill raises PapermillExecutionError with the cell
                failed = True
                row = {"notebook": str(path.relative_to(REPO_ROOT)), "status": "failed",
                       "error": str(exc).strip().splitlines()[-1][:300], "records": {}}
        rows.append(row)
        mark = "[green]ok[/]" if row["status"] == "ok" else "[red]FAILED[/]"
        console.print(f"{mark} {row['notebook']} {row.get('seconds', '')}s {row.get('error', '')}")
        for saved in row.get("maps", []):
            console.print(f"   map {saved['html']}: " + (f"screenshot {saved['png']}" if saved["png"] else saved["note"]))
        if failed:
            break
    write_summary(out_dir, rows)
    return rows


def write_summary(out_dir: Path, rows: list[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=2, default=str))
    lines = ["# Course run", "", "| notebook | status | seconds | results |", "|---|---|---|---|"]
    for r in rows:
        results = ", ".join(f"{k}={v}" for k, v in r.get("records", {}).items()
                            if not isinstance(v, (dict, list)))
        lines.append(f"| {r['notebook']} | {r['status']} | {r.get('seconds', '')} | {results} |")
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
