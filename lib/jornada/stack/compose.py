"""The compose runtime: docker compose runs the containers; the course only checks their health.

Same interface as the native :class:`~jornada.stack.runtime.Stack`, so `jornada stack …`, the
lessons and the tests do not care which runtime they are in.
"""

from __future__ import annotations

from .runtime import Health, Hook, Service, ServiceContext, Stack, StackError

COMPOSE = ("docker compose -f stack/docker-compose.yml --env-file .env --env-file stack/versions.env")


class ComposeStack(Stack):
    def __init__(self, settings, services: list[Service], hooks: dict[str, list[Hook]] | None = None):
        super().__init__(settings, services, hooks)

    def up(self, names: list[str] | None = None, log=print) -> None:
        for svc in self.to_start(names):
            ctx = self.context(svc, log)
            health = svc.health(ctx)
            if not health.ok:
                raise StackError(f"{svc.name} is not healthy ({health.detail}) — in compose, check "
                                 f"`{COMPOSE} ps` and `{COMPOSE} logs {svc.name}`")
            log(f"{svc.name}: healthy at {svc.address(self.settings)} (compose)")
            self._after_healthy(svc, ctx, log)

    def context(self, svc: Service, log=print) -> ServiceContext:
        ctx = super().context(svc, log)
        ctx.user = None  # nothing runs as a local process here
        return ctx

    def _after_healthy(self, svc: Service, ctx: ServiceContext, log) -> None:
        for hook in self.hooks.get(svc.name, []):  # the container did its own `ready` part
            hook(self.settings, log)

    def down(self, names: list[str] | None = None, log=print) -> None:
        raise StackError(f"in compose the containers are docker's: stop them with `{COMPOSE} down`")

    def reset(self, names: list[str] | None = None, log=print) -> None:
        raise StackError(f"in compose the data lives in docker volumes: `{COMPOSE} down -v`")

    def status(self, *, every: bool = False) -> list[dict]:
        rows = []
        for svc in self.select(None):
            health: Health = svc.health(self.context(svc))
            if svc.optional and not health.ok and not every:
                continue
            rows.append({"service": svc.name, "describe": svc.describe, "pid": None,
                         "healthy": health.ok, "detail": health.detail, "optional": svc.optional,
                         "endpoint": svc.address(self.settings)})
        return rows

    def rss_mb(self) -> dict[str, float]:
        return {svc.name: 0.0 for svc in self.select(None)}
