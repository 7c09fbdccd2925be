# JupyterLab as the course runs it (`make lab` → `jornada lab` puts this folder first on
# JUPYTER_CONFIG_PATH; your own ~/.jupyter config still applies after it). See lib/jornada/lab.py.
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Kernels get CurveZMQ keys from the kernel manager (ipykernel declares support), so they do not
# warn "Kernel is running over TCP without encryption" — the same setting as jornada.kernel.
c.KernelManager.transport_encryption = "auto"  # noqa: F821 - `c` is traitlets' config object

# The terminal: an interactive bash whose rc file puts the course's venv first on PATH
# (`jornada`, `dbt`, `airflow` work there). Without a shell_command, jupyter_server_terminals
# starts a LOGIN shell when it has no tty, and Debian's /etc/profile then resets PATH.
_bash = shutil.which("bash")
if _bash:
    c.ServerApp.terminado_settings = {  # noqa: F821
        "shell_command": [_bash, "--rcfile", str(HERE / "terminal.bashrc"), "-i"]}
