"""Who may do what with certificate subscriptions (declared for the policy and the access matrix).

- Reading the inventory: whoever may read the organization's subscriptions.
- Adding subscriptions and changing inventory: the subscription managers of the core
  (org super admin, delegated or mapped partner admin, platform admin); the core's
  subscription-authority rule then refuses an org super admin whose organization is managed
  by a partner (PARTNER_MANAGED_SUBSCRIPTION). A disabled reseller's admins get RESELLER_DISABLED.
- Using inventory (issuing a certificate): the organization's super admin and admins, the
  delegated or mapped partner admin, platform admins. Using is not a subscription change, so
  the authority rule does not apply.
- Running renewals: platform admins only. Renewal is the platform's billing run: it moves
  periods and writes invoice lines for every due subscription, so a partner does not choose
  when its customers are billed (see README.md).
"""

from __future__ import annotations

from gateway.policy import Action
from schema.access import (
    DELEGATED_ADMIN,
    MAPPED_ADMIN,
    MAPPED_ANY,
    ORG_ADMIN,
    ORG_MEMBERS,
    ORG_SUPER_ADMIN,
    PLATFORM_ADMIN,
    PLATFORM_ANALYST,
    UPSTREAM_ANY,
)

READ_INVENTORY = "certificates.read_inventory"
ADD_SUBSCRIPTIONS = "certificates.add_subscriptions"
ADD_INVENTORY = "certificates.add_inventory"
USE_INVENTORY = "certificates.use_inventory"
RENEW_SUBSCRIPTIONS = "certificates.renew_subscriptions"

MANAGERS = frozenset({ORG_SUPER_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})
USERS = frozenset({ORG_SUPER_ADMIN, ORG_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})

ACTIONS = [
    Action(READ_INVENTORY, "read this subscription's certificate inventory",
           frozenset(ORG_MEMBERS | MAPPED_ANY | UPSTREAM_ANY | {DELEGATED_ADMIN, PLATFORM_ADMIN, PLATFORM_ANALYST}),
           mutates=False),
    Action(ADD_SUBSCRIPTIONS, "add certificate subscriptions for this organization", MANAGERS),
    Action(ADD_INVENTORY, "change this subscription's certificate inventory", MANAGERS),
    Action(USE_INVENTORY, "use this subscription's certificate inventory", USERS),
    Action(RENEW_SUBSCRIPTIONS, "run certificate subscription renewals", frozenset({PLATFORM_ADMIN})),
]
