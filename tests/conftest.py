"""Shared fixtures and the test lanes. Tests that need services start the real native stack
(idempotently); unit tests may not."""

from __future__ import annotations

import socket

import pytest

LANES = ("unit", "services", "notebooks", "browser")
SERVICE_FIXTURES = {"stack_up", "oltp_clean", "olap_conn", "oltp_conn", "course_run", "records"}


def pytest_collection_modifyitems(items):
    """Each module declares exactly one lane; a unit test that asks for a service is an error."""
    problems = []
    for item in items:
        lanes = {m.name for m in item.iter_markers() if m.name in LANES}
        if len(lanes) != 1:
            problems.append(f"{item.nodeid}: lanes {sorted(lanes) or 'none'} — add one module-level "
                            f"`pytestmark = pytest.mark.<{'|'.join(LANES)}>`")
        elif "unit" in lanes and SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            problems.append(f"{item.nodeid}: a unit test uses a service fixture")
    if problems:
        raise pytest.UsageError("test lanes:\n  " + "\n  ".join(problems))


@pytest.fixture(autouse=True)
def _unit_tests_use_no_network(request, monkeypatch):
    """In the unit lane only refused connections are allowed: anything that answers is a service."""
    if request.node.get_closest_marker("unit") is None:
        return
    real = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a unit test tried the network: {address}")
        try:
            real(sock, address)
        except OSError:
            raise
        sock.close()
        raise AssertionError(f"a unit test reached a running service at {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def stack_up():
    from jornada.config import ensure_env_file, reload
    from jornada.services import stack

    ensure_env_file()
    st = stack(reload())
    st.up(log=lambda *_: None)
    return st


@pytest.fixture(scope="module")
def s3():
    """Only the object store (and its bucket hook), not the whole stack: its settings."""
    from jornada.config import ensure_env_file, reload
    from jornada.services import stack

    ensure_env_file()
    s = reload()
    stack(s).up(["s3"], log=lambda *_: None)
    return s


@pytest.fixture
def oltp_clean(stack_up):
    """An OLTP database with only the schema and the seeded catalogue."""
    from jornada.schema import init_oltp

    init_oltp(reset=True)
    return stack_up


@pytest.fixture
def oltp_conn(stack_up):
    from jornada.db import connect

    with connect("oltp") as conn:
        yield conn


@pytest.fixture
def olap_conn(stack_up):
    from jornada.db import connect

    with connect("olap") as conn:
        yield conn


@pytest.fixture(scope="session")
def course_run(stack_up, tmp_path_factory):
    """Execute every lesson once per session, in course order (the solutions execute in
    tests/test_graders.py, graded by `jornada check` as a learner's notebook is).

    Returns {"notebooks/02_generating_data": row, ...}; a row has status, output path, seconds and
    the values the notebook recorded with jornada.course.record().
    """
    from jornada import course

    out = tmp_path_factory.mktemp("course")
    rows = {}
    for path in course.lesson_paths():
        key = f"{path.parent.name}/{path.stem}"
        try:
            rows[key] = course.execute(path, out / path.parent.name)
        except Exception as exc:  # the failing test shows the cell's error
            rows[key] = {"status": "failed", "error": str(exc)[-3000:], "records": {}}
    return rows


@pytest.fixture(scope="session")
def records(course_run):
    """What each lesson recorded, by notebook stem (e.g. records["02_generating_data"])."""
    return {key.split("/", 1)[1]: row["records"] for key, row in course_run.items()}
