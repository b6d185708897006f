"""Who may do what with My product (declared for the policy and the access matrix).

- ``my_product.read_account``: the organization's super admin and admins, its mapped partner's
  admins and analysts, a partner admin with delegated access, the mapped reseller's
  distributor, platform admins and analysts. Organization members and developers are refused.
- ``my_product.set_storage``: the organization's super admin, the mapped partner's admin, a
  partner admin with delegated access, platform admins.
"""

from __future__ import annotations

from gateway.policy import Action
from schema.access import (
    DELEGATED_ADMIN,
    MAPPED_ADMIN,
    MAPPED_ANALYST,
    ORG_ADMIN,
    ORG_SUPER_ADMIN,
    PLATFORM_ADMIN,
    PLATFORM_ANALYST,
    UPSTREAM_ANY,
)

READ = "my_product.read_account"
SET_STORAGE = "my_product.set_storage"

MANAGERS = frozenset({ORG_SUPER_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})
READERS = MANAGERS | {ORG_ADMIN, MAPPED_ANALYST, PLATFORM_ANALYST} | UPSTREAM_ANY

ACTIONS = [
    Action(READ, "read this organization's My product account", READERS, mutates=False),
    Action(SET_STORAGE, "set this organization's My product storage", MANAGERS),
]
