"""Read entry points: solutions, and the solution instances of an organization."""

from __future__ import annotations

import strawberry
from sqlalchemy import or_, select

from gateway.batch import batch_field
from gateway.composition import Query, extends
from gateway.context import Context
from gateway.relay import Connection, PageArgs, SortKey, decode_pk, paginate
from plugins.vertical import models
from plugins.vertical.access import allowed_instances, allowed_solutions
from plugins.vertical.types import (
    Solution,
    SolutionInstance,
    SolutionUpgrade,
    SolutionVersion,
    instances_by_pk,
    solutions_by_pk,
    upgrades_by_pk,
    versions_by_pk,
)
from schema.access import active_partner_roles
from schema.memberships import organization_roles
from schema.organizations.types import Organization


@extends(Query)
class SolutionQueries:
    @strawberry.field(description="One solution you develop, or that one of your organizations installed; else null.")
    async def solution(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Solution | None:
        ctx: Context = info.context
        ctx.require_user()
        return (await visible_solutions(ctx, [decode_pk(id, "Solution")]))[0]

    @strawberry.field(description="The solutions you develop or your organizations installed (every one for platform staff).")
    async def solutions(self, info: strawberry.Info[Context, None], first: int | None = None,
                        after: str | None = None) -> Connection[Solution]:
        ctx: Context = info.context
        viewer = ctx.require_user()
        stmt = select(models.Solution)
        if viewer.platform_role not in ("ADMIN", "ANALYST"):
            conditions = []
            active_partners = await active_partner_roles(ctx)  # a disabled partner lists nothing
            if active_partners:
                conditions.append(models.Solution.developer_partner_id.in_(list(active_partners)))
            if organization_roles(viewer):
                conditions.append(models.Solution.id.in_(select(models.SolutionInstance.solution_id).where(
                    models.SolutionInstance.organization_id.in_(list(organization_roles(viewer))))))
            stmt = stmt.where(or_(*conditions)) if conditions else stmt.where(models.Solution.id.is_(None))
        return await paginate(ctx, stmt, entity=models.Solution,
                              sort=[SortKey(models.Solution.name), SortKey(models.Solution.id)],
                              page=PageArgs(first=first, after=after), to_node=Solution.from_row)


@extends(Organization)
class OrganizationSolutionFields:
    @batch_field(description="The solutions installed for this organization that you may see.")
    @staticmethod
    async def solution_instances(parents: list[Organization], ctx: Context) -> list[list[SolutionInstance]]:
        rows = (await ctx.session.scalars(select(models.SolutionInstance).where(
            models.SolutionInstance.organization_id.in_([p.pk for p in parents])).order_by(
            models.SolutionInstance.id))).all()
        allowed = await allowed_instances(ctx, "solution_instance.read", [r.id for r in rows])
        by_org: dict[int, list[SolutionInstance]] = {}
        for row in rows:
            if row.id in allowed:
                by_org.setdefault(row.organization_id, []).append(SolutionInstance.from_row(row))
        return [by_org.get(p.pk, []) for p in parents]


# ---------------------------------------------------------------- node(id:) resolvers
async def visible_solutions(ctx: Context, pks: list[int]) -> list[Solution | None]:
    allowed = await allowed_solutions(ctx, "solution.read", pks)
    found = await solutions_by_pk(ctx, list(pks))
    return [s if s is not None and s.pk in allowed else None for s in found]


async def visible_versions(ctx: Context, pks: list[int]) -> list[SolutionVersion | None]:
    found = await versions_by_pk(ctx, list(pks))
    allowed = await allowed_solutions(ctx, "solution.read", [v.solution_pk for v in found if v is not None])
    return [v if v is not None and v.solution_pk in allowed else None for v in found]


async def visible_instances(ctx: Context, pks: list[int]) -> list[SolutionInstance | None]:
    allowed = await allowed_instances(ctx, "solution_instance.read", pks)
    found = await instances_by_pk(ctx, list(pks))
    return [i if i is not None and i.pk in allowed else None for i in found]


async def visible_upgrades(ctx: Context, pks: list[int]) -> list[SolutionUpgrade | None]:
    found = await upgrades_by_pk(ctx, list(pks))
    allowed = await allowed_instances(ctx, "solution_instance.read", [u.instance_pk for u in found if u is not None])
    return [u if u is not None and u.instance_pk in allowed else None for u in found]
