"""Query.subscriptionStats: aggregates an analyst asks for, computed by the database."""

from __future__ import annotations

import strawberry

from gateway.composition import Query, extends
from gateway.context import Context
from schema.analytics.stats import SubscriptionGroupBy, SubscriptionStatsRow, subscription_stats
from schema.subscriptions.filters import SubscriptionFilter


@extends(Query)
class AnalyticsQueries:
    @strawberry.field(description=(
        "Subscriptions, organizations, licenses and monthly recurring revenue of the subscriptions you may see, "
        "grouped by the given dimensions and by currency (one SQL GROUP BY). Without a status filter, "
        "SUSPENDED and CANCELLED subscriptions are left out."))
    async def subscription_stats(self, info: strawberry.Info[Context, None], group_by: list[SubscriptionGroupBy],
                                 filter: SubscriptionFilter | None = None) -> list[SubscriptionStatsRow]:
        ctx: Context = info.context
        ctx.require_user()
        return await subscription_stats(ctx, filter, group_by)
