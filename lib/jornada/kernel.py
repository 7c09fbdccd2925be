"""How the course starts Jupyter kernels (papermill, `jornada check`, JupyterLab).

ipykernel 7 warns "Kernel is running over TCP without encryption" on every start unless the
kernel manager hands it CurveZMQ keys. jupyter_client 8.10 can: ``KernelManager.
transport_encryption`` is ``"disabled"`` by default; ``"auto"`` provisions keys whenever the
kernelspec declares ``"supported_encryption": ["curve"]`` (ipykernel's does). So the kernel's
traffic on 127.0.0.1 is encrypted and the warning has nothing left to warn about.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

KERNEL_MANAGER_SETTINGS = {"KernelManager": {"transport_encryption": "auto"}}


def kernel_config():
    """A traitlets Config for NotebookClient / papermill (``config=kernel_config()``)."""
    from traitlets.config import Config

    return Config({section: dict(values) for section, values in KERNEL_MANAGER_SETTINGS.items()})


@contextmanager
def environment(env: Mapping[str, str] | None) -> Iterator[None]:
    """``env`` added to this process's environment (a kernel started inside inherits it), and
    the previous values back afterwards."""
    env = dict(env or {})
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
