"""The core's declared actions: who may do what. The README's access matrix is generated from these."""

from __future__ import annotations

from gateway.policy import Action
from schema.access import (
    DELEGATED_ADMIN,
    EVERY_ORG_GRANT,
    MAPPED_ADMIN,
    MAPPED_ANALYST,
    MAPPED_ANY,
    MEMBER_ADMIN,
    MEMBER_ANALYST,
    MEMBER_DEVELOPER,
    ORG_ADMIN,
    ORG_MEMBERS,
    ORG_SUPER_ADMIN,
    PARENT_ADMIN,
    PARENT_ANALYST,
    PARTNER_ADMIN_RESTRICTED,
    PLATFORM_ADMIN,
    PLATFORM_ANALYST,
    UPSTREAM_ANY,
)

ORG_ADMINS = frozenset({ORG_SUPER_ADMIN, ORG_ADMIN})
PARTNER_READERS = frozenset({MEMBER_ADMIN, MEMBER_ANALYST, MEMBER_DEVELOPER, PARENT_ADMIN, PARENT_ANALYST,
                             PLATFORM_ADMIN, PLATFORM_ANALYST})
SUBSCRIPTION_MANAGERS = frozenset({ORG_SUPER_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})
BILLING_MANAGERS = frozenset({ORG_SUPER_ADMIN, DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN})


def _read(name: str, description: str, allowed: frozenset[str]) -> Action:
    return Action(name, description, frozenset(allowed), mutates=False)


CORE_ACTIONS = [
    # ------------------------------------------------------------ reads
    _read("organization.read", "see this organization", EVERY_ORG_GRANT),
    _read("organization.read_verification_code", "see the domain verification code",
          ORG_ADMINS | {DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN}),
    _read("organization.read_members", "read this organization's users (business data)",
          ORG_MEMBERS | {DELEGATED_ADMIN, PLATFORM_ADMIN}),
    _read("organization.read_subscriptions", "read this organization's subscriptions",
          ORG_MEMBERS | MAPPED_ANY | UPSTREAM_ANY | {DELEGATED_ADMIN, PLATFORM_ADMIN, PLATFORM_ANALYST}),
    _read("organization.read_billing", "read this organization's payment details",
          ORG_ADMINS | {DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN}),
    _read("organization.read_audit", "read this organization's audit log",
          ORG_ADMINS | {DELEGATED_ADMIN, PLATFORM_ADMIN, PLATFORM_ANALYST}),
    # The log records business data (users, mail addresses): a partner with the mapping only reads
    # what its own people did in the organization, not the customer's (or another partner's) actions.
    _read("organization.read_partner_audit", "read what your partner did in this organization (audit log)",
          frozenset({MAPPED_ADMIN})),
    # Events carry commercial data only (ids, plans, license counts, amounts, never people): those who
    # administer the account, and the mapped partner that receives them by webhook (admins and analysts).
    # Like the audit log, not an organization's plain members, nor the distributor above the reseller.
    _read("organization.read_events", "read this organization's events (subscriptions, access, payments)",
          ORG_ADMINS | {DELEGATED_ADMIN, MAPPED_ADMIN, MAPPED_ANALYST, PLATFORM_ADMIN, PLATFORM_ANALYST}),
    _read("partner.read_events", "read the events concerning this partner",
          frozenset({MEMBER_ADMIN, MEMBER_ANALYST, PLATFORM_ADMIN, PLATFORM_ANALYST})),
    # A partner's webhook endpoints and delivery log: the same audience as its events (deliveries carry them).
    _read("partner.read_webhooks", "read this partner's webhook endpoints and deliveries",
          frozenset({MEMBER_ADMIN, MEMBER_ANALYST, PLATFORM_ADMIN, PLATFORM_ANALYST})),
    _read("partner.read_customers", "list this partner's customers", PARTNER_READERS),
    _read("partner.read_resellers", "list this partner's resellers", PARTNER_READERS),
    _read("partner.read_deals", "read this partner's large deals",
          frozenset({MEMBER_ADMIN, MEMBER_ANALYST, PARENT_ADMIN, PARENT_ANALYST, PLATFORM_ADMIN, PLATFORM_ANALYST})),
    _read("audit.read_all", "read the platform-wide audit log", frozenset({PLATFORM_ADMIN, PLATFORM_ANALYST})),
    _read("catalog.read_price_change_details", "see who changed a list price and why",
          frozenset({PLATFORM_ADMIN, PLATFORM_ANALYST})),
    # ------------------------------------------------------------ people
    Action("partner.add_member", "add a member to this partner", frozenset({MEMBER_ADMIN, PARENT_ADMIN, PLATFORM_ADMIN})),
    Action("partner.remove_member", "remove a member from this partner",
           frozenset({MEMBER_ADMIN, PARENT_ADMIN, PLATFORM_ADMIN})),
    Action("organization.add_member", "add a user to this organization",
           ORG_ADMINS | {DELEGATED_ADMIN, PLATFORM_ADMIN}),
    # Giving a user an admin role is the organization's own decision: a partner admin acting through
    # delegated access adds members (role MEMBER) only; those memberships end when the delegation does.
    Action("organization.add_admin_member", "add a user with an admin role (ADMIN or SUPER_ADMIN) to this organization",
           ORG_ADMINS | {PLATFORM_ADMIN}, restricted=frozenset({DELEGATED_ADMIN}), restricted_code=PARTNER_ADMIN_RESTRICTED,
           restricted_message="A partner admin can add organization members with the role MEMBER only; "
                              "only the organization's super admin or admins can give a user an admin role."),
    # Endpoints receive the partner's events and hold the signing secret: the partner's own admins (and
    # platform admins, for support) create, change, delete, rotate and redeliver; not the distributor above.
    Action("webhook.manage", "manage this partner's webhook endpoints (create, change, delete, rotate the "
           "secret, redeliver)", frozenset({MEMBER_ADMIN, PLATFORM_ADMIN})),
    # ------------------------------------------------------------ catalog
    Action("catalog.change_price", "change the list prices of the catalog", frozenset({PLATFORM_ADMIN})),
    # ------------------------------------------------------------ partners
    Action("partner.create", "create a partner", frozenset({PLATFORM_ADMIN})),
    Action("partner.create_reseller", "create a reseller under this partner", frozenset({MEMBER_ADMIN, PLATFORM_ADMIN})),
    Action("partner.update_details", "edit this partner's details",
           frozenset({MEMBER_ADMIN, PARENT_ADMIN, PLATFORM_ADMIN})),
    Action("partner.disable_reseller", "disable this reseller", frozenset({PARENT_ADMIN, PLATFORM_ADMIN})),
    Action("partner.enable_reseller", "enable this reseller", frozenset({PARENT_ADMIN, PLATFORM_ADMIN})),
    # ------------------------------------------------------------ organizations
    Action("organization.create", "create an organization for this partner", frozenset({MEMBER_ADMIN, PLATFORM_ADMIN})),
    Action("organization.verify_domain", "verify this organization's domain",
           ORG_ADMINS | {DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN}),
    Action("organization.update_details", "edit this organization's details",
           ORG_ADMINS | {DELEGATED_ADMIN, MAPPED_ADMIN, PLATFORM_ADMIN}),
    Action("organization.tag_partner", "tag a partner for this organization", frozenset({ORG_SUPER_ADMIN})),
    Action("organization.revoke_partner_access", "revoke a partner's delegated admin access",
           frozenset({ORG_SUPER_ADMIN})),
    Action("organization.grant_partner_access", "grant a partner delegated admin access",
           frozenset({ORG_SUPER_ADMIN})),
    # ------------------------------------------------------------ subscriptions
    Action("subscription.add", "add a subscription for this organization", SUBSCRIPTION_MANAGERS),
    Action("subscription.purchase", "purchase this trial subscription", SUBSCRIPTION_MANAGERS),
    Action("subscription.change", "change this subscription", SUBSCRIPTION_MANAGERS),
    Action("subscription.set_auto_renew", "change auto-renewal of this subscription", SUBSCRIPTION_MANAGERS),
    Action("subscription.suspend", "suspend this subscription", SUBSCRIPTION_MANAGERS),
    Action("subscription.enable", "enable this subscription", SUBSCRIPTION_MANAGERS),
    # ------------------------------------------------------------ billing and deals
    Action("payment_method.update", "change this organization's card", BILLING_MANAGERS),
    Action("payment_method.remove", "remove this organization's card", BILLING_MANAGERS),
    Action("large_deal.submit", "submit a large deal for this organization",
           frozenset({MAPPED_ADMIN, DELEGATED_ADMIN, PLATFORM_ADMIN})),
]
