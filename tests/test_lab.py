"""`jornada lab` / `make lab`: JupyterLab as a learner meets it (no course services needed)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time

import pytest
from traitlets.config.loader import PyFileConfigLoader

from jornada import lab
from jornada.config import REPO_ROOT

# one test starts a real JupyterLab server and opens a terminal through its API
pytestmark = pytest.mark.services


def test_allow_root_only_as_root():
    as_root, _ = lab.command(28888, is_root=True, base_env={})
    as_user, _ = lab.command(28888, is_root=False, base_env={})
    assert "--allow-root" in as_root and "--allow-root" not in as_user
    assert as_user[:2] == [str(lab.venv_bin() / "jupyter"), "lab"]
    assert as_user[as_user.index("--ip") + 1] == "127.0.0.1" and "28888" in as_user


def test_the_venv_and_the_course_config_come_first():
    _, env = lab.command(28888, is_root=False, base_env={"PATH": "/usr/bin:/bin",
                                                         "JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["PATH"].split(os.pathsep) == [str(lab.venv_bin()), "/usr/bin", "/bin"]
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(lab.JUPYTER_DIR), "/elsewhere"]
    assert env["JORNADA_VENV_BIN"] == str(lab.venv_bin())


def test_make_lab_goes_through_jornada_lab():
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "$(JORNADA) lab" in recipe and "--allow-root" not in recipe


def test_the_news_popup_is_disabled():
    page = json.loads((lab.JUPYTER_DIR / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"] == {lab.ANNOUNCEMENTS: True}


def test_server_config_encrypts_kernels_and_gives_the_terminal_a_non_login_shell():
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(lab.JUPYTER_DIR)).load_config()
    assert config.KernelManager.transport_encryption == "auto"
    shell = config.ServerApp.terminado_settings["shell_command"]
    assert shell[1:] == ["--rcfile", str(lab.JUPYTER_DIR / "terminal.bashrc"), "-i"]
    assert "-l" not in shell, "a login shell would let /etc/profile reset PATH"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab started exactly as `jornada lab` starts it (on a free port)."""
    import requests

    port, token = _free_port(), "jornada-test-token"
    cmd, env = lab.command(port)
    env.update({"JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                "JUPYTER_DATA_DIR": str(tmp_path / "data"),
                "PATH": "/usr/local/bin:/usr/bin:/bin"})  # a PATH without the venv: lab adds it
    _, env_with_venv = lab.command(port, base_env=env)
    proc = subprocess.Popen(cmd, env=env_with_venv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if requests.get(f"{base}/api/status", params={"token": token}, timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("the jupyter server did not start: " + proc.stderr.read(3000).decode())
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_jornada_is_on_the_terminals_path(lab_server):
    import requests
    import websocket

    base, token = lab_server
    name = requests.post(f"{base}/api/terminals", params={"token": token}, timeout=10).json()["name"]
    ws = websocket.create_connection(f"ws{base[4:]}/terminals/websocket/{name}?token={token}", timeout=20)
    try:
        # printf, so the terminal's echo of the typed line never looks like the answer
        ws.send(json.dumps(["stdin", "printf 'JOR%s=[%s]\\n' NADA \"$(command -v jornada)\"\r"]))
        seen, deadline = "", time.monotonic() + 30
        while not re.search(r"JORNADA=\[[^]]*\]", seen) and time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg[0] == "stdout":
                seen += msg[1]
    finally:
        ws.close()
        requests.delete(f"{base}/api/terminals/{name}", params={"token": token}, timeout=10)
    found = re.search(r"JORNADA=\[([^]]*)\]", seen)
    assert found, f"no answer from the terminal: {seen[-500:]!r}"
    assert found.group(1) == str(lab.venv_bin() / "jornada"), f"`jornada` in the terminal: {found.group(1)!r}"


def test_the_lab_page_disables_the_announcements_plugin(lab_server):
    import requests

    base, token = lab_server
    page = requests.get(f"{base}/lab", params={"token": token}, timeout=20).text
    found = re.search(r'<script id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)
    assert found, page[:500]
    config = json.loads(found.group(1))
    assert lab.ANNOUNCEMENTS in config["disabledExtensions"]
