"""Native runtime: the course's services as local processes (see runtime.py)."""

from .runtime import Health, Service, Stack, StackError  # noqa: F401
from .services import all_services, stack  # noqa: F401
