"""The analytics part of the core, as a plugin: subscriptionStats and the CSV exports."""

from __future__ import annotations

from starlette.routing import BaseRoute

from gateway.hookspecs import hookimpl
from schema.analytics.exports import ROUTES
from schema.analytics.queries import AnalyticsQueries


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [AnalyticsQueries]


@hookimpl
def gateway_routes() -> list[BaseRoute]:
    return list(ROUTES)
