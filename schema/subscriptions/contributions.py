"""What the subscriptions part adds to the core plugin."""

from __future__ import annotations

from schema.subscriptions.types import ProductSubscription, SubscriptionChange, visible_subscriptions

TYPES = [ProductSubscription, SubscriptionChange]
EXTENSIONS: list[type] = []
NODE_RESOLVERS = {"ProductSubscription": visible_subscriptions}
