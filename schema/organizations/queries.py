"""Read entry points for organizations and partners, and the partner's customer lists."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import Query, extends
from gateway.context import SUSPENDED_REFUSALS, Context
from gateway.relay import Connection, PageArgs, decode_pk, paginate, paginate_grouped
from schema.access import allowed_partners, delegation_counts, visible_organizations_clause
from schema.common import OrganizationRole, PartnerRole
from schema.identity.viewer import Viewer
from schema.memberships import organization_roles, partner_roles
from schema.models import Organization as OrganizationRow
from schema.models import Partner as PartnerRow
from schema.models import PartnerAccess as PartnerAccessRow
from schema.organizations.filters import (
    OrganizationFilter,
    OrganizationOrder,
    organization_filter_clause,
    organization_sort,
)
from schema.organizations.types import Organization, organizations_by_pk, refusal, visible_organizations
from schema.partners.types import Partner, PartnerKind, partners_by_pk, visible_partners


@extends(Query)
class OrganizationQueries:
    @strawberry.field(description="One organization you may see, or null.")
    async def organization(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Organization | None:
        ctx: Context = info.context
        ctx.require_user()
        found = (await visible_organizations(ctx, [decode_pk(id, "Organization")]))[0]
        if found is None and "organization.read" in (ctx.cache.peek(SUSPENDED_REFUSALS) or ()):
            raise ctx.refusal("organization.read")  # say why rather than pretend it does not exist
        return found

    @strawberry.field(description="Every organization you may see, filtered and ordered in SQL.")
    async def organizations(
        self, info: strawberry.Info[Context, None], first: int | None = None, after: str | None = None, last: int | None = None,
        before: str | None = None, filter: OrganizationFilter | None = None, order_by: OrganizationOrder | None = None,
    ) -> Connection[Organization]:
        ctx: Context = info.context
        ctx.require_user()
        stmt = select(OrganizationRow).where(await visible_organizations_clause(ctx), *organization_filter_clause(filter))
        return await paginate(ctx, stmt, entity=OrganizationRow, sort=organization_sort(order_by),
                              page=PageArgs(first, after, last, before), to_node=Organization.from_row)

    @strawberry.field(description="One partner you belong to or supervise, or null.")
    async def partner(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Partner | None:
        ctx: Context = info.context
        ctx.require_user()
        return (await visible_partners(ctx, [decode_pk(id, "Partner")]))[0]

    @strawberry.field(description="The partners you belong to and their resellers (every partner for platform staff).")
    async def partners(self, info: strawberry.Info[Context, None], first: int | None = None, after: str | None = None,
                       kind: PartnerKind | None = None) -> Connection[Partner]:
        from gateway.relay import SortKey
        from schema.access import active_partner_roles, viewer_reseller_ids

        ctx: Context = info.context
        viewer = ctx.require_user()
        stmt = select(PartnerRow)
        if viewer.platform_role not in ("ADMIN", "ANALYST"):
            # Its own partners always (a disabled one still sees its record and status); resellers only
            # through a partner that is not disabled.
            active = await active_partner_roles(ctx)
            ids = list(partner_roles(viewer)) + [child for child, parent in (await viewer_reseller_ids(ctx)).items()
                                                if parent in active]
            stmt = stmt.where(PartnerRow.id.in_(ids))
        if kind is not None:
            stmt = stmt.where(PartnerRow.kind == kind.value)
        return await paginate(ctx, stmt, entity=PartnerRow, sort=[SortKey(PartnerRow.name), SortKey(PartnerRow.id)],
                              page=PageArgs(first=first, after=after), to_node=Partner.from_row)


@extends(Partner)
class PartnerCustomerFields:
    @batch_field(description="The organizations mapped to this partner.")
    @staticmethod
    async def customers(
        parents: list[Partner], ctx: Context, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None, filter: OrganizationFilter | None = None,
        order_by: OrganizationOrder | None = None,
    ) -> list[Connection[Organization] | Exception]:
        allowed = await allowed_partners(ctx, "partner.read_customers", [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        pages = await paginate_grouped(
            ctx, select(OrganizationRow).where(OrganizationRow.partner_id.in_(keys), *organization_filter_clause(filter)),
            entity=OrganizationRow, sort=organization_sort(order_by), page=PageArgs(first, after, last, before),
            to_node=Organization.from_row, group_by=OrganizationRow.partner_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, "partner.read_customers") for p in parents]

    @batch_field(description="Organizations this partner manages through active delegated admin access (verified domains).")
    @staticmethod
    async def managed_organizations(parents: list[Partner], ctx: Context, first: int | None = None,
                                    after: str | None = None) -> list[Connection[Organization] | Exception]:
        allowed = await allowed_partners(ctx, "partner.read_customers", [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        stmt = (
            select(OrganizationRow)
            .join(PartnerAccessRow, PartnerAccessRow.organization_id == OrganizationRow.id)
            .where(PartnerAccessRow.partner_id.in_(keys), delegation_counts(PartnerAccessRow, OrganizationRow))
        )
        pages = await paginate_grouped(
            ctx, stmt, entity=OrganizationRow, sort=organization_sort(None), page=PageArgs(first=first, after=after),
            to_node=Organization.from_row, group_by=PartnerAccessRow.partner_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, "partner.read_customers") for p in parents]


@strawberry.type
class PartnerMembership:
    partner: Partner
    role: PartnerRole


@strawberry.type
class OrganizationMembership:
    organization: Organization
    role: OrganizationRole


@extends(Viewer)
class ViewerMembershipFields:
    """The viewer's memberships: here, not in identity, because this part owns Partner and Organization."""

    @batch_field
    @staticmethod
    async def partner_memberships(parents: list[Viewer], ctx: Context) -> list[list[PartnerMembership]]:
        roles = partner_roles(ctx.viewer)
        partners = await partners_by_pk(ctx, sorted(roles))
        found = [PartnerMembership(partner=p, role=PartnerRole(roles[p.pk])) for p in partners if p is not None]
        return [found for _ in parents]  # one viewer per request

    @batch_field
    @staticmethod
    async def organization_memberships(parents: list[Viewer], ctx: Context) -> list[list[OrganizationMembership]]:
        roles = organization_roles(ctx.viewer)
        organizations = await organizations_by_pk(ctx, sorted(roles))
        found = [OrganizationMembership(organization=o, role=OrganizationRole(roles[o.pk]))
                 for o in organizations if o is not None]
        return [found for _ in parents]
