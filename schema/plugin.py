"""The core graph, registered through the same hooks as every product plugin.

Each part of the core (``schema/<part>/``) lists what it contributes in its
``contributions.py``: ``TYPES``, ``EXTENSIONS`` (classes marked ``@extends``), ``ACTIONS``,
``NODE_RESOLVERS``, and optionally ``loaders(ctx)``, ``seed_demo(session, demo)``,
``invoice_lines(ctx, organization_ids)``, ``payment_processor()``,
``ROUTES`` and ``CLI_COMMANDS``. This file only gathers them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from gateway import models as host_models
from gateway.hookspecs import hookimpl
from gateway.plugins import maybe_await
from schema import models
from schema.actions import CORE_ACTIONS
from schema.identity.viewer import viewer_memberships

PARTS = ["identity", "organizations", "people", "catalog", "subscriptions", "billing", "deals", "audit", "analytics"]


def _parts() -> list[ModuleType]:
    found = []
    for part in PARTS:
        name = f"schema.{part}.contributions"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
    return found


def _gather(attribute: str) -> list[Any]:
    return [item for part in _parts() for item in getattr(part, attribute, [])]


@hookimpl
def gateway_models() -> list[type]:
    return [
        host_models.User, host_models.ApiToken, host_models.AuditEvent, host_models.Notification,
        host_models.IdempotencyKey, host_models.PersistedQuery, host_models.CostBudget,
        *(getattr(models, name) for name in models.__dict__ if isinstance(getattr(models, name), type)
          and issubclass(getattr(models, name), models.Base) and getattr(models, name) is not models.Base),
    ]


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def gateway_types() -> list[type]:
    return _gather("TYPES")


@hookimpl
def gateway_type_extensions() -> list[type]:
    return _gather("EXTENSIONS")


@hookimpl
def gateway_actions() -> list[Any]:
    return [*CORE_ACTIONS, *_gather("ACTIONS")]


@hookimpl
def gateway_node_resolvers() -> dict[str, Any]:
    resolvers: dict[str, Any] = {}
    for part in _parts():
        resolvers.update(getattr(part, "NODE_RESOLVERS", {}))
    return resolvers


@hookimpl
def gateway_routes() -> list[Any]:
    return _gather("ROUTES")


@hookimpl
def gateway_cli_commands() -> list[Any]:
    return _gather("CLI_COMMANDS")


@hookimpl
def gateway_loaders(ctx: Any) -> dict[str, Any]:
    loaders: dict[str, Any] = {}
    for part in _parts():
        if hasattr(part, "loaders"):
            loaders.update(part.loaders(ctx))
    return loaders


@hookimpl
def gateway_viewer_memberships(session: Any, user_id: int) -> Any:
    return viewer_memberships(session, user_id)


@hookimpl
def gateway_seed_demo(session: Any, demo: Any) -> Any:
    async def seed() -> None:
        for part in _parts():
            if hasattr(part, "seed_demo"):
                await maybe_await(part.seed_demo(session, demo))

    return seed()


@hookimpl
def gateway_seed_catalog(session: Any) -> Any:
    from schema.catalog.service import seed_standard_catalog

    return seed_standard_catalog(session)


@hookimpl
def gateway_demo_roles() -> dict[str, str]:
    from schema.organizations.demo import PEOPLE

    return {label: can for label, *_, can in PEOPLE}


@hookimpl
def gateway_invoice_lines(ctx: Any, organization_ids: list[int]) -> Any:
    async def lines() -> dict[int, list[Any]]:
        collected: dict[int, list[Any]] = {}
        for part in _parts():
            if hasattr(part, "invoice_lines"):
                for org_id, found in (await maybe_await(part.invoice_lines(ctx, organization_ids)) or {}).items():
                    collected.setdefault(org_id, []).extend(found)
        return collected

    return lines()


@hookimpl(trylast=True)
def gateway_payment_processor() -> Any:
    for part in _parts():
        if hasattr(part, "payment_processor"):
            return part.payment_processor()
    return None


@hookimpl
def gateway_grant_columns() -> list[str]:
    from schema.access import GRANT_COLUMNS

    return list(GRANT_COLUMNS)
