"""What the analytics part adds to the core plugin: subscriptionStats and the CSV exports."""

from __future__ import annotations

from schema.analytics.exports import ROUTES as EXPORT_ROUTES
from schema.analytics.queries import AnalyticsQueries

EXTENSIONS = [AnalyticsQueries]
ROUTES = [*EXPORT_ROUTES]
