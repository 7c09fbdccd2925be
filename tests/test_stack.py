"""The native runtime, on an isolated copy of the stack (own folder, own ports)."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest

from jornada import config
from jornada.services import stack
from jornada.stack import StackError
from jornada.stack.doctor import run_checks
from jornada.stack.runtime import pid_alive

pytestmark = pytest.mark.services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def isolated_stack():
    import shutil
    import uuid

    base = config.settings()
    # under the stack folder, not /tmp: the unprivileged service user must be able to reach it
    root = base.stack_dir / "test-isolated" / uuid.uuid4().hex[:8]
    root.mkdir(parents=True)
    s = base.replace(jornada_stack_dir=root, oltp_port=_free_port(), olap_port=_free_port())
    st = stack(s)
    yield st
    st.down(log=lambda *_: None)
    shutil.rmtree(root, ignore_errors=True)


def test_up_is_idempotent_status_healthy_and_down_stops_everything(isolated_stack):
    st = isolated_stack
    st.up(["olap"], log=lambda *_: None)
    pid = st.running_pid(st.services["olap"])
    assert pid and pid_alive(pid)
    messages = []
    st.up(["olap"], log=messages.append)
    assert "already running" in messages[0]
    assert st.running_pid(st.services["olap"]) == pid, "a second up must not start a second server"
    row = {r["service"]: r for r in st.status()}["olap"]
    assert row["healthy"] and "wal_level=logical" in row["detail"]
    assert row["endpoint"].startswith("127.0.0.1:")
    # the course role owns its database and can create tables in it
    with psycopg.connect(st.settings.olap.conninfo()) as conn:
        conn.execute("create table if not exists t_probe (x int)")
    children = _children(pid)
    assert children, "postgres runs background workers"
    st.down(["olap"], log=lambda *_: None)
    time.sleep(0.2)
    assert not pid_alive(pid)
    assert not any(pid_alive(c) for c in children), "down must stop the whole process tree"
    assert st.running_pid(st.services["olap"]) is None
    assert "not running" in {r["service"]: r for r in st.status()}["olap"]["detail"]


def test_port_taken_by_a_stranger_gives_a_clear_error(isolated_stack):
    st = isolated_stack
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", st.settings.oltp.port))
        squatter.listen()
        with pytest.raises(StackError, match="already taken.*choose another port"):
            st.up(["oltp"], log=lambda *_: None)
        checks = {c.name: c for c in run_checks(st)}
        assert not checks["port oltp"].ok and "another program" in checks["port oltp"].detail


def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def test_a_stack_inside_a_private_folder_starts(tmp_path_factory):
    """A checkout in a `mktemp -d` folder (mode 700): the service user must still reach its data."""
    import shutil
    import tempfile
    from pathlib import Path

    private = Path(tempfile.mkdtemp(prefix="jornada-private-"))  # mode 700, like mktemp -d
    try:
        base = config.settings()
        s = base.replace(jornada_stack_dir=private / ".stack", olap_port=_free_port())
        st = stack(s)
        st.up(["olap"], log=lambda *_: None)
        assert {r["service"]: r for r in st.status()}["olap"]["healthy"]
        st.down(["olap"], log=lambda *_: None)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_last_start_is_the_servers_start_not_what_clients_provoked_later(tmp_path):
    from jornada.stack.runtime import last_start

    log = tmp_path / "oltp.log"
    log.write_text("\n==== 2026-01-01 10:00:00 starting oltp\nLOG:  old start\n"
                   "LOG:  database system is ready to accept connections\nERROR:  an old error\n"
                   "\n==== 2026-01-02 10:00:00 starting oltp\nLOG:  starting PostgreSQL 16\n"
                   "LOG:  database system is ready to accept connections\n"
                   "ERROR:  new row for relation \"itens_pedidos\" violates check constraint\n")
    shown = last_start(log, until="ready to accept connections")
    assert shown.splitlines()[0] == "==== 2026-01-02 10:00:00 starting oltp"
    assert shown.endswith("ready to accept connections") and "ERROR" not in shown
    assert last_start(log, lines=2).splitlines() == ["==== 2026-01-02 10:00:00 starting oltp",
                                                     "LOG:  starting PostgreSQL 16"]
    assert last_start(tmp_path / "missing.log") == "(no log)"
