"""Who may do what with instant-messaging credits.

Credits are billing data, read like the core's subscriptions and payments:

- ``desk_im.read_credits`` (the balance and the ledger's kind, credits, channel and time):
  the organization's super admin and admins, a partner admin with delegated access, every
  member of the mapped partner except developers (admins and analysts), the mapped
  reseller's distributor (read-only, as for subscriptions), platform admins and analysts,
  and the messaging service (it may check a balance before sending).
- ``desk_im.read_credit_amounts`` (what a purchase cost, whose card paid, who acted): only
  those who may read the organization's payment details in the core
  (``organization.read_billing``): org super admin and admins, delegated and mapped partner
  admins, platform admins. Analysts see balances and credits but these fields are null.
  Organization members (role MEMBER) and developers see nothing.

Writes:

- ``desk_im.purchase_credits``: the mapped partner's admin, a partner admin with delegated
  access, a direct customer's super admin, platform admins (support). The core's
  subscription-authority rule then applies: an organization mapped to a partner buys only
  through that partner, so its own super admin gets PARTNER_MANAGED_SUBSCRIPTION.
- ``desk_im.record_messages`` and ``desk_im.record_add_on_usage``: the messaging service
  (platform role MESSAGING_SERVICE) and platform admins. Usage is metered by the platform;
  a partner admin cannot report usage, since that would let it charge its customer's card
  at will.
"""

from __future__ import annotations

from gateway.policy import Action
from schema.access import (
    DELEGATED_ADMIN,
    MAPPED_ADMIN,
    MAPPED_ANALYST,
    MESSAGING_SERVICE,
    ORG_ADMIN,
    ORG_SUPER_ADMIN,
    PLATFORM_ADMIN,
    PLATFORM_ANALYST,
    UPSTREAM_ANY,
)

READ = "desk_im.read_credits"
READ_AMOUNTS = "desk_im.read_credit_amounts"
PURCHASE = "desk_im.purchase_credits"
RECORD_MESSAGES = "desk_im.record_messages"
RECORD_ADD_ON_USAGE = "desk_im.record_add_on_usage"

BILLING_READERS = frozenset({ORG_SUPER_ADMIN, ORG_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})
CREDIT_READERS = BILLING_READERS | {MAPPED_ANALYST, PLATFORM_ANALYST, MESSAGING_SERVICE} | UPSTREAM_ANY
METERING = frozenset({MESSAGING_SERVICE, PLATFORM_ADMIN})

ACTIONS = [
    Action(READ, "read this organization's instant-messaging credits", CREDIT_READERS, mutates=False),
    Action(READ_AMOUNTS, "see what this organization's instant-messaging credits cost", BILLING_READERS,
           mutates=False),
    Action(PURCHASE, "buy instant-messaging credits for this organization",
           frozenset({ORG_SUPER_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})),
    Action(RECORD_MESSAGES, "record instant messages sent by this organization", METERING),
    Action(RECORD_ADD_ON_USAGE, "record usage of this subscription's add-ons", METERING),
]
