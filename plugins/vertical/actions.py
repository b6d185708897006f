"""Who may do what with solutions and their customer instances.

Grants of this plugin (computed in plugins/vertical/access.py), beside the core's organization grants:
  solution:DEVELOPER | solution:PARTNER_ADMIN | solution:PARTNER_ANALYST
        member of the solution's developer partner                 via MEMBERSHIP
  solution:CUSTOMER   member of an organization that installed it   via MEMBERSHIP
  developer_access    member (DEVELOPER or PARTNER_ADMIN) of the developer partner while the
                      organization's super admin has GRANTED access to this instance   via DEVELOPER_ACCESS
"""

from __future__ import annotations

from gateway.policy import Action
from schema.access import (
    DELEGATED_ADMIN,
    MEMBER_ADMIN,
    MEMBER_DEVELOPER,
    ORG_ADMIN,
    ORG_MEMBER,
    ORG_SUPER_ADMIN,
    PLATFORM_ADMIN,
    PLATFORM_ANALYST,
)

SOLUTION_DEVELOPER = "solution:DEVELOPER"
SOLUTION_ADMIN = "solution:PARTNER_ADMIN"
SOLUTION_ANALYST = "solution:PARTNER_ANALYST"
SOLUTION_CUSTOMER = "solution:CUSTOMER"
DEVELOPER_ACCESS = "developer_access"

SOLUTION_TEAM = frozenset({SOLUTION_DEVELOPER, SOLUTION_ADMIN, SOLUTION_ANALYST})
SOLUTION_MAKERS = frozenset({SOLUTION_DEVELOPER, SOLUTION_ADMIN})
PLATFORM_READERS = frozenset({PLATFORM_ADMIN, PLATFORM_ANALYST})
# Every grant name this plugin's actions use, in the order the access matrix prints them.
GRANT_COLUMNS = [SOLUTION_DEVELOPER, SOLUTION_ADMIN, SOLUTION_ANALYST, SOLUTION_CUSTOMER, DEVELOPER_ACCESS]


def _read(name: str, description: str, allowed: frozenset[str]) -> Action:
    return Action(name, description, allowed, mutates=False)


ACTIONS = [
    # ------------------------------------------------------------ reads
    _read("solution.read", "see this solution", SOLUTION_TEAM | PLATFORM_READERS | {SOLUTION_CUSTOMER}),
    _read("solution.read_customers", "list this solution's customers", SOLUTION_TEAM | PLATFORM_READERS),
    _read("solution.export_customers", "export this solution's customers", SOLUTION_TEAM | PLATFORM_READERS),
    _read("solution_instance.read", "see this solution instance",
          SOLUTION_TEAM | PLATFORM_READERS | {ORG_SUPER_ADMIN, ORG_ADMIN, ORG_MEMBER, DELEGATED_ADMIN, DEVELOPER_ACCESS}),
    _read("solution_instance.read_data", "see this solution instance's data (storage)",
          frozenset({ORG_SUPER_ADMIN, ORG_ADMIN, DELEGATED_ADMIN, DEVELOPER_ACCESS, PLATFORM_ADMIN})),
    _read("solution_instance.read_access_url", "see the developer access URL",
          frozenset({DEVELOPER_ACCESS, PLATFORM_ADMIN})),
    _read("notification.read_outbox", "read the notification outbox", frozenset({PLATFORM_ADMIN})),
    # ------------------------------------------------------------ solutions
    Action("solution.create", "create a solution for this developer partner",
           frozenset({MEMBER_DEVELOPER, MEMBER_ADMIN, PLATFORM_ADMIN})),
    Action("solution.publish_version", "publish a version of this solution", SOLUTION_MAKERS | {PLATFORM_ADMIN}),
    Action("solution.install", "install this solution for a customer", SOLUTION_MAKERS | {PLATFORM_ADMIN}),
    Action("solution.upgrade_instances", "upgrade this solution's customer instances",
           SOLUTION_MAKERS | {PLATFORM_ADMIN}),
    # ------------------------------------------------------------ instances
    Action("solution_instance.upgrade", "upgrade this solution instance",
           SOLUTION_MAKERS | {DEVELOPER_ACCESS, ORG_SUPER_ADMIN, ORG_ADMIN, PLATFORM_ADMIN}),
    Action("solution_instance.set_account_status", "change this solution instance's account status",
           frozenset({DEVELOPER_ACCESS, ORG_SUPER_ADMIN, PLATFORM_ADMIN})),
    Action("solution_instance.request_developer_access", "request developer access to this solution instance",
           SOLUTION_MAKERS),
    Action("solution_instance.grant_developer_access", "grant developer access to this solution instance",
           frozenset({ORG_SUPER_ADMIN})),
    Action("solution_instance.revoke_developer_access", "revoke developer access to this solution instance",
           frozenset({ORG_SUPER_ADMIN})),
]
