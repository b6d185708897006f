"""Organization.subscriptions: one keyset-paginated statement for every organization of the level."""

from __future__ import annotations

from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.errors import BadUserInput, DomainError
from gateway.relay import Connection, PageArgs, SortKey, paginate_grouped
from schema.access import allowed_organizations
from schema.billing.types import InvoiceLine
from schema.models import Subscription as SubscriptionRow
from schema.organizations.types import Organization, refusal
from schema.subscriptions.filters import SubscriptionFilter, subscription_filter_clause
from schema.subscriptions.types import READ_ACTION, ProductSubscription, subscriptions_by_pk


@extends(Organization)
class OrganizationSubscriptionFields:
    @batch_field(description="The organization's subscriptions, oldest first, filtered in SQL.")
    @staticmethod
    async def subscriptions(parents: list[Organization], ctx: Context, first: int | None = None,
                            after: str | None = None,
                            filter: SubscriptionFilter | None = None) -> list[Connection[ProductSubscription] | Exception]:
        allowed = await allowed_organizations(ctx, READ_ACTION, [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        try:
            clauses = subscription_filter_clause(filter)
        except DomainError as error:  # a bad country code in a read is the client's input error
            raise BadUserInput(error.message, field=["filter", "country"]) from None
        pages = await paginate_grouped(
            ctx, select(SubscriptionRow).where(SubscriptionRow.organization_id.in_(keys), *clauses),
            entity=SubscriptionRow, sort=[SortKey(SubscriptionRow.id)], page=PageArgs(first=first, after=after),
            to_node=subscriptions_by_pk.converter(ctx), group_by=SubscriptionRow.organization_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, READ_ACTION) for p in parents]


@extends(InvoiceLine)
class InvoiceLineSubscriptionField:
    """Billing's invoice lines point at subscriptions; the field lives here so billing never imports this part."""

    @batch_field
    @staticmethod
    async def subscription(parents: list[InvoiceLine], ctx: Context) -> list[ProductSubscription | None]:
        return await subscriptions_by_pk(ctx, [p.subscription_pk for p in parents])
