"""The viewer's grants on solutions and solution instances (see actions.py for the vocabulary)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from gateway.context import Context
from gateway.errors import Forbidden, NotFound
from gateway.policy import Decision, Grant
from gateway.request_cache import Slot
from plugins.vertical.actions import DEVELOPER_ACCESS, SOLUTION_CUSTOMER
from plugins.vertical.models import DeveloperAccess, Solution, SolutionInstance
from schema.access import PLATFORM_ADMIN, PLATFORM_ANALYST, allowed_by_grants, organization_access, viewer_partners
from schema.memberships import organization_roles, partner_roles
from schema.models import Organization

_PLATFORM = {"ADMIN": Grant(PLATFORM_ADMIN, via="PLATFORM"), "ANALYST": Grant(PLATFORM_ANALYST, via="ANALYST")}
ACCESS_ROLES = ("DEVELOPER", "PARTNER_ADMIN")  # developer-partner roles that use granted access


async def _team_grant(ctx: Context, developer_partner_id: int) -> Grant | None:
    role = partner_roles(ctx.viewer).get(developer_partner_id)
    if role is None:
        return None
    partner = (await viewer_partners(ctx)).get(developer_partner_id)
    return Grant(f"solution:{role}", via="MEMBERSHIP", through=developer_partner_id,
                 suspended=partner is not None and partner.status == "DISABLED")


# the viewer's grants per solution and per instance, for the length of a request
SOLUTION_GRANTS: Slot[dict[int, list[Grant]]] = Slot("vertical_solution_grants", dict)
INSTANCE_GRANTS: Slot[dict[int, list[Grant]]] = Slot("vertical_instance_grants", dict)


async def solution_grants(ctx: Context, solution_ids: Iterable[int]) -> dict[int, list[Grant]]:
    """Grants on each existing solution (missing ids are absent), cached per request."""
    cache = ctx.cache.get(SOLUTION_GRANTS)
    wanted = [pk for pk in dict.fromkeys(solution_ids) if pk not in cache]
    if wanted:
        viewer = ctx.viewer
        rows = (await ctx.session.execute(
            select(Solution.id, Solution.developer_partner_id).where(Solution.id.in_(wanted)))).all()
        customer_of: set[int] = set()
        if organization_roles(viewer) and rows:
            customer_of = set((await ctx.session.scalars(select(SolutionInstance.solution_id).where(
                SolutionInstance.solution_id.in_([r.id for r in rows]),
                SolutionInstance.organization_id.in_(list(organization_roles(viewer)))))).all())
        for row in rows:
            grants: list[Grant] = []
            team = await _team_grant(ctx, row.developer_partner_id)
            if team is not None:
                grants.append(team)
            if row.id in customer_of:
                grants.append(Grant(SOLUTION_CUSTOMER, via="MEMBERSHIP"))
            if viewer.platform_role in _PLATFORM:
                grants.append(_PLATFORM[viewer.platform_role])
            cache[row.id] = grants
    return {pk: cache[pk] for pk in solution_ids if pk in cache}


async def instance_grants(ctx: Context, instance_ids: Iterable[int]) -> dict[int, list[Grant]]:
    """Grants on each existing instance: granted developer access first (so the audit says
    DEVELOPER_ACCESS), then the organization's grants, then the developer team's."""
    cache = ctx.cache.get(INSTANCE_GRANTS)
    wanted = [pk for pk in dict.fromkeys(instance_ids) if pk not in cache]
    if wanted:
        rows = (await ctx.session.execute(
            select(SolutionInstance.id, SolutionInstance.organization_id, Solution.developer_partner_id,
                   DeveloperAccess.status)
            .join(Solution, Solution.id == SolutionInstance.solution_id)
            .outerjoin(DeveloperAccess, DeveloperAccess.instance_id == SolutionInstance.id)
            .where(SolutionInstance.id.in_(wanted)))).all()
        organizations = await organization_access(ctx, [r.organization_id for r in rows]) if rows else {}
        for row in rows:
            grants: list[Grant] = []
            team = await _team_grant(ctx, row.developer_partner_id)
            if team is not None and row.status == "GRANTED" and partner_roles(ctx.viewer)[row.developer_partner_id] in ACCESS_ROLES:
                grants.append(Grant(DEVELOPER_ACCESS, via="DEVELOPER_ACCESS", through=row.developer_partner_id,
                                    suspended=team.suspended))
            entry = organizations.get(row.organization_id)
            grants.extend(entry.grants if entry else [])
            if team is not None:
                grants.append(team)
            cache[row.id] = grants
    return {pk: cache[pk] for pk in instance_ids if pk in cache}


def forget_grants(ctx: Context) -> None:
    ctx.cache.forget(SOLUTION_GRANTS, INSTANCE_GRANTS)


async def authorize_solution(ctx: Context, action: str, solution_id: int) -> Decision:
    ctx.require_user()
    grants = (await solution_grants(ctx, [solution_id])).get(solution_id)
    if grants is None:
        raise NotFound("No solution has that ID.")
    return ctx.actions.decide(action, grants)


async def authorize_instance(ctx: Context, action: str, instance_id: int) -> Decision:
    ctx.require_user()
    grants = (await instance_grants(ctx, [instance_id])).get(instance_id)
    if grants is None:
        raise NotFound("No solution instance has that ID.")
    return ctx.actions.decide(action, grants)


async def allowed_solutions(ctx: Context, action: str, solution_ids: Iterable[int]) -> set[int]:
    if not ctx.viewer.is_authenticated:
        return set()
    return allowed_by_grants(ctx, action, await solution_grants(ctx, list(solution_ids)))


async def allowed_instances(ctx: Context, action: str, instance_ids: Iterable[int]) -> set[int]:
    if not ctx.viewer.is_authenticated:
        return set()
    return allowed_by_grants(ctx, action, await instance_grants(ctx, list(instance_ids)))


async def ensure_developer_customer(ctx: Context, solution_id: int, organization_id: int) -> None:
    """A developer installs its solution only for organizations mapped to its own partner.

    Otherwise any developer could attach any organization to a solution and read its details
    through the instance; platform admins are not limited (callers skip this check for them).
    """
    row = (await ctx.session.execute(
        select(Organization.partner_id, Solution.developer_partner_id)
        .select_from(Organization).join(Solution, Solution.id == solution_id)
        .where(Organization.id == organization_id)
    )).first()
    if row is None:
        raise NotFound("No organization has that ID.")
    if row.partner_id != row.developer_partner_id:
        raise Forbidden("You can install your solution only for organizations mapped to your partner; "
                        "the customer tags your partner code first.", action="solution.install")
