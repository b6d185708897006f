"""How a viewer relates to an organization or a partner: the grants the policy checks.

Grant names (the vocabulary every plugin's actions use):

organization scope
  org:SUPER_ADMIN, org:ADMIN, org:MEMBER   member of the organization            via MEMBERSHIP
  delegated:PARTNER_ADMIN                  admin of a partner with active delegated
                                           access to a verified organization     via PARTNER_ADMIN
  mapped:PARTNER_ADMIN|PARTNER_ANALYST|DEVELOPER
                                           member of the mapped partner          via PARTNER_MAPPING
  upstream:PARTNER_ADMIN|PARTNER_ANALYST   member of the mapped reseller's
                                           distributor (read-only)               via PARTNER_MAPPING
  platform:ADMIN | platform:ANALYST | platform:MESSAGING_SERVICE                 via PLATFORM / ANALYST
partner scope
  member:<PartnerRole>                     member of the partner                 via MEMBERSHIP
  parent:<PartnerRole>                     member of the partner's parent        via MEMBERSHIP

A grant that comes through a partner (``Grant.through``, the partner's pk) is ``suspended`` while that
partner is disabled and allows nothing, reads included (``ActionRegistry.permits``); it is refused with
RESELLER_DISABLED (``DISABLED_PARTNER``, the core's ``gateway_suspended_refusal``). The SQL scopes below
(``visible_organizations_clause``, ``active_partner_roles``) leave such partners out the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import aliased

from gateway.context import SUSPENDED_REFUSALS, Context
from gateway.errors import NotFound
from gateway.policy import Decision, Grant, SuspendedRefusal
from gateway.request_cache import Slot
from schema.memberships import organization_roles, partner_roles
from schema.models import AuditEvent, Organization, Partner, PartnerAccess

# The user error (mutations) and ``extensions.reason`` (reads) of a refusal through a disabled partner.
RESELLER_DISABLED = "RESELLER_DISABLED"
DISABLED_PARTNER = SuspendedRefusal(
    RESELLER_DISABLED, "Your partner account is disabled, so you cannot {description}; ask your distributor to enable it.")
# The user error of a grant on an action's restricted list (the mail plugin's, giving a user an admin role).
PARTNER_ADMIN_RESTRICTED = "PARTNER_ADMIN_RESTRICTED"
ONLY_SUPER_ADMIN = "A partner admin cannot {description}; only the organization's super admin can."

ORG_SUPER_ADMIN = "org:SUPER_ADMIN"
ORG_ADMIN = "org:ADMIN"
ORG_MEMBER = "org:MEMBER"
DELEGATED_ADMIN = "delegated:PARTNER_ADMIN"
MAPPED_ADMIN = "mapped:PARTNER_ADMIN"
MAPPED_ANALYST = "mapped:PARTNER_ANALYST"
MAPPED_DEVELOPER = "mapped:DEVELOPER"
UPSTREAM_ADMIN = "upstream:PARTNER_ADMIN"
UPSTREAM_ANALYST = "upstream:PARTNER_ANALYST"
PLATFORM_ADMIN = "platform:ADMIN"
PLATFORM_ANALYST = "platform:ANALYST"
MESSAGING_SERVICE = "platform:MESSAGING_SERVICE"
MEMBER_ADMIN = "member:PARTNER_ADMIN"
MEMBER_ANALYST = "member:PARTNER_ANALYST"
MEMBER_DEVELOPER = "member:DEVELOPER"
PARENT_ADMIN = "parent:PARTNER_ADMIN"
PARENT_ANALYST = "parent:PARTNER_ANALYST"

ORG_MEMBERS = frozenset({ORG_SUPER_ADMIN, ORG_ADMIN, ORG_MEMBER})
MAPPED_ANY = frozenset({MAPPED_ADMIN, MAPPED_ANALYST, MAPPED_DEVELOPER})
UPSTREAM_ANY = frozenset({UPSTREAM_ADMIN, UPSTREAM_ANALYST})
PLATFORM_READERS = frozenset({PLATFORM_ADMIN, PLATFORM_ANALYST})
EVERY_ORG_GRANT = ORG_MEMBERS | MAPPED_ANY | UPSTREAM_ANY | PLATFORM_READERS | {DELEGATED_ADMIN}

# Every grant name, in the order the access matrix prints them.
GRANT_COLUMNS = [
    PLATFORM_ADMIN, PLATFORM_ANALYST, MESSAGING_SERVICE, ORG_SUPER_ADMIN, ORG_ADMIN, ORG_MEMBER, DELEGATED_ADMIN,
    MAPPED_ADMIN, MAPPED_ANALYST, MAPPED_DEVELOPER, UPSTREAM_ADMIN, UPSTREAM_ANALYST,
    MEMBER_ADMIN, MEMBER_ANALYST, MEMBER_DEVELOPER, PARENT_ADMIN, PARENT_ANALYST,
]

_PLATFORM_GRANTS = {
    "ADMIN": Grant(PLATFORM_ADMIN, via="PLATFORM"),
    "ANALYST": Grant(PLATFORM_ANALYST, via="ANALYST"),
    "MESSAGING_SERVICE": Grant(MESSAGING_SERVICE, via="PLATFORM"),
}


@dataclass
class OrganizationAccess:
    """The viewer's grants on one organization, and why a partner cannot manage it when it cannot."""

    organization_id: int
    domain: str
    domain_verified: bool
    partner_id: int | None
    grants: list[Grant] = field(default_factory=list)
    revoked_at: dt.datetime | None = None  # the viewer's partner had delegated access and it was revoked
    delegation_blocked_unverified: bool = False

    @property
    def names(self) -> set[str]:
        return {g.name for g in self.grants}

    def refusal(self) -> str | None:
        if self.grants and all(g.suspended for g in self.grants):
            return "Your partner account is disabled; ask your distributor to enable it."
        if self.revoked_at is not None:
            return (f"The organization's super admin revoked your partner's delegated admin access on "
                    f"{self.revoked_at:%Y-%m-%d}.")
        if self.delegation_blocked_unverified:
            return f"The domain {self.domain} is not verified; only organizations with a verified domain can be managed."
        return None


# What the access layer remembers for the length of a request (dropped by forget_access).
VIEWER_PARTNERS: Slot[dict[int, Partner]] = Slot("viewer_partners", dict)
VIEWER_RESELLERS: Slot[dict[int, int]] = Slot("viewer_resellers", dict)
ORGANIZATION_ACCESS: Slot[dict[int, OrganizationAccess]] = Slot("organization_access", dict)
PARTNER_GRANTS: Slot[dict[int, list[Grant]]] = Slot("partner_grants", dict)


async def viewer_partners(ctx: Context) -> dict[int, Partner]:
    """The partners the viewer is a member of, with their status and parent (once per request)."""
    async with ctx.cache.lock(VIEWER_PARTNERS):
        if VIEWER_PARTNERS not in ctx.cache:
            ids = list(partner_roles(ctx.viewer))
            rows = (await ctx.session.scalars(select(Partner).where(Partner.id.in_(ids)))).all() if ids else []
            ctx.cache.put(VIEWER_PARTNERS, {p.id: p for p in rows})
    return ctx.cache.get(VIEWER_PARTNERS)


async def active_partner_roles(ctx: Context) -> dict[int, str]:
    """The viewer's partner roles, leaving out disabled partners: for SQL scopes built from memberships
    (a disabled partner "can do nothing until enabled again", reads included)."""
    partners = await viewer_partners(ctx)
    return {pid: role for pid, role in partner_roles(ctx.viewer).items()
            if pid in partners and partners[pid].status != "DISABLED"}


async def viewer_reseller_ids(ctx: Context) -> dict[int, int]:
    """{reseller id: the viewer's partner that is its parent}, for distributors' read access."""
    async with ctx.cache.lock(VIEWER_RESELLERS):
        if VIEWER_RESELLERS not in ctx.cache:
            ids = list(partner_roles(ctx.viewer))
            rows = (await ctx.session.execute(
                select(Partner.id, Partner.parent_id).where(Partner.parent_id.in_(ids)))).all() if ids else []
            ctx.cache.put(VIEWER_RESELLERS, {child: parent for child, parent in rows})
    return ctx.cache.get(VIEWER_RESELLERS)


async def organization_access(ctx: Context, organization_ids: Iterable[int]) -> dict[int, OrganizationAccess]:
    """The viewer's access to each existing organization (missing ids are absent), cached per request."""
    organization_ids = list(organization_ids)
    cache = ctx.cache.get(ORGANIZATION_ACCESS)
    async with ctx.cache.lock(ORGANIZATION_ACCESS):  # concurrent batches wait and reuse, not query twice
        await _load_organization_access(ctx, cache, [pk for pk in dict.fromkeys(organization_ids) if pk not in cache])
    return {pk: cache[pk] for pk in organization_ids if pk in cache}


# ---------------------------------------------------------------- who reaches an organization, stated once
def delegation_counts(access: type[PartnerAccess] = PartnerAccess,
                      organization: type[Organization] = Organization) -> ColumnElement[bool]:
    """Whether a delegated admin access (a ``PartnerAccess`` row) counts on its organization: it is ACTIVE
    and the domain is verified ("only organizations with a verified domain can be managed"). The one
    statement of the rule, over the two rows (or aliases of them) the caller joined."""
    return and_(access.status == "ACTIVE", organization.domain_verified.is_(True))


def delegated_access_counts(partner_ids: Iterable[int]) -> ColumnElement[bool]:
    """The organizations on which these partners' delegated admin access counts (a condition on
    ``Organization``): SQL scopes use it as a filter, per-object checks select it as a flag."""
    managed = aliased(Organization)
    return Organization.id.in_(
        select(PartnerAccess.organization_id).join(managed, managed.id == PartnerAccess.organization_id)
        .where(PartnerAccess.partner_id.in_(list(partner_ids)), delegation_counts(PartnerAccess, managed)))


@dataclass(frozen=True)
class GrantRule:
    """The viewer holds ``grant`` on exactly the organizations that meet ``condition`` (SQL over Organization)."""

    grant: Grant
    condition: ColumnElement[bool]


async def organization_grant_rules(ctx: Context) -> list[GrantRule]:
    """Every grant the viewer can hold on an organization, each with the SQL condition saying on which.

    The single source of organization access: ``visible_organizations_clause`` ORs the conditions of the
    grants an action permits (lists, exports, stats, the audit log); ``organization_access`` selects the
    same conditions as flags for the organizations asked about (per-object checks). Order matters:
    ``ActionRegistry.decide`` takes the first grant that permits, and its ``via`` goes to the audit log.
    """
    viewer = ctx.viewer
    rules: list[GrantRule] = []
    if not viewer.is_authenticated:
        return rules
    organizations = organization_roles(viewer)
    for role in dict.fromkeys(organizations.values()):
        members_of = [pk for pk, own in organizations.items() if own == role]
        rules.append(GrantRule(Grant(f"org:{role}", via="MEMBERSHIP"), Organization.id.in_(members_of)))
    partners = await viewer_partners(ctx)
    resellers = await viewer_reseller_ids(ctx)
    for partner_id, partner in partners.items():
        role = partner_roles(viewer)[partner_id]
        disabled = partner.status == "DISABLED"  # the grant is kept (it explains a refusal) but allows nothing
        if role == "PARTNER_ADMIN":
            rules.append(GrantRule(Grant(DELEGATED_ADMIN, via="PARTNER_ADMIN", through=partner_id,
                                         suspended=disabled), delegated_access_counts([partner_id])))
        rules.append(GrantRule(Grant(f"mapped:{role}", via="PARTNER_MAPPING", through=partner_id,
                                     suspended=disabled), Organization.partner_id == partner_id))
        its_resellers = [child for child, parent in resellers.items() if parent == partner_id]
        if its_resellers and role != "DEVELOPER":
            rules.append(GrantRule(Grant(f"upstream:{role}", via="PARTNER_MAPPING", through=partner_id,
                                         suspended=disabled), Organization.partner_id.in_(its_resellers)))
    if viewer.platform_role in _PLATFORM_GRANTS:
        rules.append(GrantRule(_PLATFORM_GRANTS[viewer.platform_role], true()))
    return rules


async def _load_organization_access(ctx: Context, cache: dict[int, OrganizationAccess], wanted: list[int]) -> None:
    if not wanted:
        return
    viewer = ctx.viewer
    rules = await organization_grant_rules(ctx)
    partners = await viewer_partners(ctx)
    rows = (await ctx.session.execute(
        select(Organization.id, Organization.domain, Organization.domain_verified, Organization.partner_id,
               *(rule.condition.label(f"holds_{n}") for n, rule in enumerate(rules)))
        .where(Organization.id.in_(wanted))
    )).all()
    # the viewer's partners' delegations, read only to say why a partner admin cannot manage an organization
    delegations: dict[tuple[int, int], PartnerAccess] = {}
    if partners and rows:
        for access in (await ctx.session.scalars(select(PartnerAccess).where(
            PartnerAccess.organization_id.in_([r.id for r in rows]), PartnerAccess.partner_id.in_(list(partners))
        ))).all():
            delegations[(access.organization_id, access.partner_id)] = access
    for row in rows:
        entry = OrganizationAccess(row.id, row.domain, row.domain_verified, row.partner_id)
        entry.grants = [rule.grant for n, rule in enumerate(rules) if row[4 + n]]
        delegated_to = {g.through for g in entry.grants if g.name == DELEGATED_ADMIN}
        for partner_id in partners:
            delegation = delegations.get((row.id, partner_id))
            if delegation is None or partner_roles(viewer)[partner_id] != "PARTNER_ADMIN" or partner_id in delegated_to:
                continue
            if delegation.status == "ACTIVE":  # active, yet it does not count: the domain is not verified
                entry.delegation_blocked_unverified = True
            else:
                entry.revoked_at = delegation.revoked_at
        cache[row.id] = entry


async def authorize_organization(ctx: Context, action: str, organization_id: int) -> Decision:
    """Check ``action`` on one organization: UNAUTHENTICATED, NOT_FOUND, FORBIDDEN or a user error, else the decision."""
    ctx.require_user()
    access = (await organization_access(ctx, [organization_id])).get(organization_id)
    if access is None:
        raise NotFound("No organization has that ID.")
    return ctx.actions.decide(action, access.grants, refusal=access.refusal())


async def allowed_organizations(ctx: Context, action: str, organization_ids: Iterable[int]) -> set[int]:
    """The subset of organizations on which the viewer may perform ``action`` (for batch readers).

    Grants through a disabled partner allow nothing (reads included); when that is the only reason
    an organization is left out, ``ctx.refusal(action)`` says the partner account is disabled."""
    if not ctx.viewer.is_authenticated:
        return set()
    access = await organization_access(ctx, organization_ids)
    return allowed_by_grants(ctx, action, {pk: entry.grants for pk, entry in access.items()})


def allowed_by_grants(ctx: Context, action: str, grants_by_pk: dict[int, list[Grant]]) -> set[int]:
    """The keys whose grants allow ``action``; notes refusals due to a disabled partner for ``ctx.refusal``."""
    allowed = set()
    for pk, grants in grants_by_pk.items():
        if ctx.actions.permits(action, grants):
            allowed.add(pk)
        elif ctx.actions.refused_as_suspended(action, grants):
            ctx.cache.get(SUSPENDED_REFUSALS).add(action)
    return allowed


async def visible_organizations_clause(ctx: Context, action: str = "organization.read") -> ColumnElement[bool]:
    """SQL condition selecting the organizations on which the viewer may perform ``action`` (by default: see
    them at all; for lists, exports, stats). The same grant rules as the per-object checks: a grant through
    a disabled partner allows nothing here either."""
    if not ctx.viewer.is_authenticated:
        return false()
    platform = _PLATFORM_GRANTS.get(ctx.viewer.platform_role or "")
    if platform is not None and ctx.actions.permits(action, [platform]):
        return true()  # the platform rule holds everywhere: no need to read the viewer's partners
    conditions = [rule.condition for rule in await organization_grant_rules(ctx)
                  if ctx.actions.permits(action, [rule.grant])]
    return or_(*conditions) if conditions else false()


# ---------------------------------------------------------------- partners
async def partner_grants(ctx: Context, partner_ids: Iterable[int]) -> dict[int, list[Grant]]:
    """The viewer's grants on each existing partner (missing ids are absent)."""
    partner_ids = list(partner_ids)
    cache = ctx.cache.get(PARTNER_GRANTS)
    async with ctx.cache.lock(PARTNER_GRANTS):
        await _load_partner_grants(ctx, cache, [pk for pk in dict.fromkeys(partner_ids) if pk not in cache])
    return {pk: cache[pk] for pk in partner_ids if pk in cache}


async def _load_partner_grants(ctx: Context, cache: dict[int, list[Grant]], wanted: list[int]) -> None:
    if wanted:
        viewer = ctx.viewer
        mine = await viewer_partners(ctx)
        rows = (await ctx.session.execute(select(Partner.id, Partner.parent_id).where(Partner.id.in_(wanted)))).all()
        for row in rows:
            grants: list[Grant] = []
            roles = partner_roles(viewer)
            if row.id in roles:
                own = mine.get(row.id)
                grants.append(Grant(f"member:{roles[row.id]}", via="MEMBERSHIP", through=row.id,
                                    suspended=own is not None and own.status == "DISABLED"))
            if row.parent_id is not None and row.parent_id in roles:
                parent = mine.get(row.parent_id)
                grants.append(Grant(f"parent:{roles[row.parent_id]}", via="MEMBERSHIP",
                                    through=row.parent_id,
                                    suspended=parent is not None and parent.status == "DISABLED"))
            if viewer.platform_role in _PLATFORM_GRANTS:
                grants.append(_PLATFORM_GRANTS[viewer.platform_role])
            cache[row.id] = grants


async def authorize_partner(ctx: Context, action: str, partner_id: int) -> Decision:
    ctx.require_user()
    grants = (await partner_grants(ctx, [partner_id])).get(partner_id)
    if grants is None:
        raise NotFound("No partner has that ID.")
    return ctx.actions.decide(action, grants)


async def allowed_partners(ctx: Context, action: str, partner_ids: Iterable[int]) -> set[int]:
    """The subset of partners on which the viewer may perform ``action``; as allowed_organizations."""
    if not ctx.viewer.is_authenticated:
        return set()
    return allowed_by_grants(ctx, action, await partner_grants(ctx, partner_ids))


def authorize_platform(ctx: Context, action: str) -> Decision:
    """Actions with no object (e.g. createPartner): only platform grants apply."""
    ctx.require_user()
    role = ctx.viewer.platform_role
    grants = [_PLATFORM_GRANTS[role]] if role in _PLATFORM_GRANTS else []
    return ctx.actions.decide(action, grants)


def forget_access(ctx: Context) -> None:
    """Drop cached grants after a mutation changed who may do what."""
    ctx.cache.forget(ORGANIZATION_ACCESS, PARTNER_GRANTS, VIEWER_PARTNERS, VIEWER_RESELLERS)


def audit(ctx: Context, decision: Decision, action: str, *, organization_id: int | None = None,
          partner_id: int | None = None, details: dict[str, Any] | None = None) -> None:
    """Write the audit event of a decided action; the partner comes from the grant when not given."""
    record_audit(ctx, action, via=decision.via, organization_id=organization_id,
                 partner_id=partner_id if partner_id is not None else decision.grant.through, details=details)


def record_audit(ctx: Context, action: str, *, via: str, organization_id: int | None = None,
                 partner_id: int | None = None, details: dict[str, Any] | None = None) -> None:
    """Record an audit event (the viewer as actor) in the current transaction."""
    ctx.session.add(AuditEvent(actor_user_id=ctx.viewer.user_id, via=via, organization_id=organization_id,
                               partner_id=partner_id, action=action, details=details or {}))
