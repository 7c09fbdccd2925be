"""The stack runtime: services as local processes (native) or containers (compose); see runtime.py.

Which services exist is said one level up, by the composition root :mod:`jornada.services`.
"""

from .runtime import Health, Service, Stack, StackError  # noqa: F401
