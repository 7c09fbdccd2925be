"""`jornada lab` (and `make lab`): JupyterLab on 127.0.0.1 the way a learner meets it.

- ``--allow-root`` only when run as root (Jupyter refuses root without it);
- the venv's ``bin`` first on ``PATH`` of the server, so kernels (``!jornada check 01``) and the
  terminal find ``jornada``; the terminal's rc file (stack/jupyter/terminal.bashrc) puts it first
  again after your ~/.bashrc;
- ``JUPYTER_CONFIG_PATH`` starts with ``stack/jupyter``: the server config (kernel transport
  encryption, the terminal's shell) and ``labconfig/page_config.json``, which disables the news
  pop-up (the ``@jupyterlab/apputils-extension:announcements`` plugin).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .config import REPO_ROOT, settings as load_settings

JUPYTER_DIR = REPO_ROOT / "stack" / "jupyter"
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
ENV_KEYS = ("PATH", "JUPYTER_CONFIG_PATH", "JORNADA_VENV_BIN")


def venv_bin() -> Path:
    """The bin/ folder of the Python running jornada (the course's .venv)."""
    return Path(sys.executable).parent


def _prepend(value: str, existing: str | None) -> str:
    parts = [p for p in (existing or "").split(os.pathsep) if p and p != value]
    return os.pathsep.join([value, *parts])


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    bin_dir = str(venv_bin())
    env["PATH"] = _prepend(bin_dir, env.get("PATH"))
    env["JORNADA_VENV_BIN"] = bin_dir
    env["JUPYTER_CONFIG_PATH"] = _prepend(str(JUPYTER_DIR), env.get("JUPYTER_CONFIG_PATH"))
    return env


def command(port: int | None = None, *, is_root: bool | None = None,
            base_env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line and its environment."""
    if port is None:
        port = load_settings().jupyter_port
    if is_root is None:
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    cmd = [str(venv_bin() / "jupyter"), "lab", "--ip", "127.0.0.1", "--port", str(port),
           "--no-browser", "--notebook-dir", str(REPO_ROOT)]
    if is_root:
        cmd.append("--allow-root")
    return cmd, environment(base_env)
