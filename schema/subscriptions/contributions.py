"""What the subscriptions part adds to the core plugin."""

from __future__ import annotations

from schema.subscriptions.demo import seed_demo
from schema.subscriptions.mutations import SubscriptionMutations
from schema.subscriptions.queries import OrganizationSubscriptionFields
from schema.subscriptions.types import (
    ProductSubscription, SubscriptionChange, visible_subscription_changes, visible_subscriptions,
)

TYPES = [ProductSubscription, SubscriptionChange]
EXTENSIONS = [OrganizationSubscriptionFields, SubscriptionMutations]
NODE_RESOLVERS = {"ProductSubscription": visible_subscriptions, "SubscriptionChange": visible_subscription_changes}

__all__ = ["seed_demo"]
