# rc file of JupyterLab's terminal (stack/jupyter/jupyter_server_config.py): your usual
# interactive set-up first, then the course's venv first on PATH so `jornada …` works here.
[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
_jornada_bin="${JORNADA_VENV_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.venv/bin}"
case ":$PATH:" in
  "$_jornada_bin:"*) ;;
  *) export PATH="$_jornada_bin:$PATH" ;;
esac
unset _jornada_bin
