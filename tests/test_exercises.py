"""Exercises are generated from solutions, stay in sync, and fail only at their blanks; learners
work on copies in workspace/ that nothing overwrites; check failures read as one short message."""

from __future__ import annotations

import nbformat
import pytest

from jornada import exercises

pytestmark = pytest.mark.unit


def _nb(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_markers_become_a_blank_at_the_same_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION\n\nprint(f)"
    out = exercises.strip_solution(src)
    assert "return x * 2" not in out
    assert '    raise NotImplementedError(' in out
    assert out.endswith("print(f)")
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


@pytest.mark.parametrize("bad", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
])
def test_broken_markers_are_rejected(bad):
    with pytest.raises(exercises.ExerciseError):
        exercises.strip_solution(bad)


def test_a_solution_without_blanks_is_rejected():
    with pytest.raises(exercises.ExerciseError, match="nothing to do"):
        exercises.exercise_from_solution(_nb("x = 1"))


def test_outputs_are_stripped():
    nb = _nb("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="secret answer")]
    ex = exercises.exercise_from_solution(nb)
    assert ex.cells[0].outputs == [] and "x = 1" not in ex.cells[0].source


def test_every_lesson_with_exercises_has_a_solution_and_they_are_in_sync():
    # exercises/ only: a learner's filled-in copy lives in workspace/ and never makes this fail
    solutions = {p.name for p in exercises.solution_paths()}
    assert solutions, "solutions/ has no notebooks"
    on_disk = {p.name for p in exercises.EXERCISES.glob("[0-9][0-9]_*.ipynb")}
    assert on_disk == solutions, "exercises/ and solutions/ must hold the same lessons"
    assert exercises.generate(check_only=True) == [], \
        "exercises/ is out of date: run `make exercises` (never edit exercises by hand)"


def test_grading_reads_pass_todo_fail_and_error():
    def cell(src, outputs):
        c = nbformat.v4.new_code_cell(src, metadata={"tags": ["check"]})
        c.outputs = outputs
        return c

    err = lambda name, value: nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[])  # noqa: E731
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell("lesson01.task_1(f)", []),
                cell("lesson01.task_2(g)", [err("NotImplementedError", "")]),
                cell("lesson01.task_3(h)", [err("TaskFailed", "did you filter on op = 'd'?")]),
                cell("lesson01.task_4(k)", [err("KeyError", "'x'")])]
    nb.cells.append(cell("lesson03.task_5(m)", [err("KafkaUnavailable", "Kafka not reachable at 127.0.0.1:9 — "
                                                                        "run `make up`\n  (detail)")]))
    got = [(r["task"], r["status"]) for r in exercises.task_results(nb)]
    assert got == [("task_1", "passed"), ("task_2", "todo"), ("task_3", "failed"), ("task_4", "error"),
                   ("task_5", "error")]
    results = exercises.task_results(nb)
    assert "op = 'd'" in results[2]["hint"]
    assert results[3]["hint"].endswith("(your code raised this)")
    assert results[4]["hint"] == ("the stack is down — run `make up` (then `make status`): "
                                  "Kafka not reachable at 127.0.0.1:9 — run `make up`")


def test_unknown_lesson_is_a_clear_error():
    with pytest.raises(ValueError, match="lesson must be two digits"):
        exercises.find_notebook("1")
    with pytest.raises(ValueError, match="no exercise notebook for lesson 99"):
        exercises.find_notebook("99")


# ---- the learner's workspace ---------------------------------------------------------------
def _fill_in(path, text="# my answer"):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(text))
    nbformat.write(nb, path)


def test_start_copies_once_and_never_overwrites_the_learners_work(tmp_path):
    first = exercises.start("01", workspace=tmp_path)
    path = first["path"]
    assert first["action"] == "copied" and path == tmp_path / exercises.find_notebook("01").name
    assert path.read_text() == exercises.find_notebook("01").read_text()
    _fill_in(path)
    mine = path.read_text()
    again = exercises.start("01", workspace=tmp_path)
    assert again["action"] == "kept" and path.read_text() == mine
    assert [r["action"] for r in exercises.start_all(workspace=tmp_path)].count("kept") == 1
    assert {p.name for p in tmp_path.glob("*.ipynb")} == {p.name for p in exercises.solution_paths()}


def test_start_force_backs_the_old_copy_up_first(tmp_path):
    path = exercises.start("02", workspace=tmp_path)["path"]
    _fill_in(path, "# two hours of work")
    mine = path.read_text()
    fresh = exercises.start("02", force=True, workspace=tmp_path)
    assert fresh["action"] == "replaced"
    assert fresh["backup"].read_text() == mine and fresh["backup"].parent == tmp_path / ".backup"
    assert path.read_text() == exercises.find_notebook("02").read_text()


def test_a_filled_in_workspace_copy_does_not_touch_exercises_or_their_sync(tmp_path):
    path = exercises.start("03", workspace=tmp_path)["path"]
    _fill_in(path)
    mine = path.read_text()
    assert exercises.generate(check_only=True) == []   # `make test`'s sync test still passes
    assert exercises.generate() == []                  # `make exercises` writes nothing…
    assert path.read_text() == mine                    # …and never the workspace


def test_check_grades_the_workspace_copy_and_asks_for_start_first(tmp_path, monkeypatch):
    monkeypatch.setattr(exercises, "WORKSPACE", tmp_path)
    with pytest.raises(ValueError, match="run `jornada start 05` first"):
        exercises.grade("05")
    path = exercises.start("05")["path"]
    seen = []
    monkeypatch.setattr(exercises, "run_notebook", lambda p, **kw: seen.append(p) or nbformat.read(p, 4))
    monkeypatch.setattr(exercises, "data_policy", lambda lesson: {"scratch": (), "note": ""})
    result = exercises.grade("05")
    assert seen == [path] and result["notebook"] == str(path)
    assert set(result) == {"lesson", "notebook", "tasks", "passed", "total", "cell_errors"}
    assert result["total"] == len(result["tasks"]) == 4
    assert result["cell_errors"] == []                       # nothing ran: no outputs at all


def test_cell_errors_are_the_cells_outside_the_checks():
    nb = nbformat.v4.new_notebook()
    boom = {"output_type": "error", "ename": "NameError", "evalue": "name 'x' is not defined", "traceback": []}
    nb.cells = [nbformat.v4.new_markdown_cell("# a lesson"),
                nbformat.v4.new_code_cell("x", outputs=[nbformat.from_dict(boom)]),
                nbformat.v4.new_code_cell("check(x)", metadata={"tags": [exercises.CHECK_TAG]},
                                          outputs=[nbformat.from_dict(boom)]),
                nbformat.v4.new_code_cell("1 + 1")]
    assert exercises.cell_errors(nb) == [{"cell": 2, "ename": "NameError", "evalue": "name 'x' is not defined"}]


def test_the_workspace_is_ignored_by_git():
    ignored = (exercises.REPO_ROOT / ".gitignore").read_text().splitlines()
    assert "workspace/" in ignored


@pytest.mark.parametrize("lesson", exercises.lessons())
def test_each_lesson_declares_what_its_check_does_to_data(lesson):
    policy = exercises.data_policy(lesson)
    assert policy["note"].startswith(f"`jornada check {lesson}`")
    assert set(policy["scratch"]) <= {"oltp", "olap"}
    nb = nbformat.read(exercises.find_notebook(lesson, exercises.SOLUTIONS), as_version=4)
    if "reset=True" in "".join(c.source for c in nb.cells if c.cell_type == "code"):
        assert "oltp" in policy["scratch"], "a notebook that resets the OLTP is graded in a scratch copy"


@pytest.mark.parametrize("path", exercises.solution_paths(), ids=lambda p: p.stem)
def test_the_first_cell_says_the_flow(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    lesson = path.name[:2]
    assert f"`jornada start {lesson}`" in first and "workspace/" in first
    assert f"`jornada check {lesson}`" in first


# ---- what a failing check looks like inside a notebook ---------------------------------------
def test_check_failures_are_one_short_message_in_a_kernel(capfd, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [
        "from jornada.checks import TaskFailed\nraise TaskFailed('did you filter on op = d?')",
        "from jornada.db import ServiceUnavailable\n"
        "raise ServiceUnavailable('OLTP Postgres not reachable at 127.0.0.1:9 — run make up\\n  (refused)')",
        "raise NotImplementedError('your turn: replace this line with your code')",
        "raise NotImplementedError('a NotImplementedError of my own')",
    ]]
    path = tmp_path / "handler.ipynb"
    nbformat.write(nb, path)
    run = exercises.run_notebook(path)
    out = [c.outputs[0] for c in run.cells]
    assert [o["ename"] for o in out] == ["TaskFailed", "ServiceUnavailable", "NotImplementedError",
                                         "NotImplementedError"]
    text = ["\n".join(o["traceback"]) for o in out]
    assert len(out[0]["traceback"]) == 1 and "did you filter on op = d?" in text[0]
    assert "Traceback" not in text[0] and "jornada/checks" not in text[0]
    assert text[1].count("\n") == 1 and "the stack is down — run `make up`" in text[1]
    assert "OLTP Postgres not reachable at 127.0.0.1:9" in text[1] and "(refused)" not in text[1]
    assert text[2].startswith("\x1b[1;33mto do:")
    assert len(out[3]["traceback"]) > 1, "the learner's own exceptions keep their traceback"
    assert "without encryption" not in capfd.readouterr().err, "kernel transport encryption is off"
