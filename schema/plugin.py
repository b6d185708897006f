"""The core graph, registered through the same hooks as every product plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.hookspecs import hookimpl
from gateway import models as gateway_models
from schema import models
from schema.actions import CORE_ACTIONS
from schema.identity.types import User, users_by_pk
from schema.identity.viewer import ViewerQueries, viewer_memberships
from schema.organizations.queries import OrganizationQueries, PartnerCustomerFields
from schema.organizations.types import Organization, visible_organizations
from schema.partners.types import Partner, visible_partners


@hookimpl
def gateway_models() -> list[type]:
    return [
        gateway_models.User, gateway_models.ApiToken, gateway_models.AuditEvent, gateway_models.Notification,
        gateway_models.IdempotencyKey, gateway_models.PersistedQuery, gateway_models.CostBudget,
        models.Partner, models.PartnerMember, models.Organization, models.OrganizationMember, models.PartnerMapping,
        models.PartnerAccess, models.Product, models.Plan, models.AddOn, models.Subscription, models.SubscriptionAddOn,
        models.SubscriptionChange, models.PaymentMethod, models.Payment, models.InvoiceLine, models.LargeDeal,
    ]


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def gateway_types() -> list[type]:
    return [Organization, Partner, User]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [ViewerQueries, OrganizationQueries, PartnerCustomerFields]


@hookimpl
def gateway_actions() -> list[Any]:
    return CORE_ACTIONS


@hookimpl
def gateway_node_resolvers() -> dict[str, Any]:
    async def users(ctx: Any, pks: list[int]) -> list[Any]:
        ctx.require_user()
        return await users_by_pk(ctx, pks)  # type: ignore[arg-type]

    return {"Organization": visible_organizations, "Partner": visible_partners, "User": users}


@hookimpl
def gateway_viewer_memberships(session: Any, user_id: int) -> Any:
    return viewer_memberships(session, user_id)
