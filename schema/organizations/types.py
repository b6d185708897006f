"""Organizations, their partner mapping and delegated access, as the graph shows them."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.context import Context
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from gateway.request_cache import ByPrimaryKey
from schema.access import ORGANIZATION_ACCESS, allowed_organizations, organization_access
from schema.common import AccessVia, Address, OrganizationRole, required
from schema.identity.types import User, users_by_pk, visible_users
from schema.models import Organization as OrganizationRow
from schema.models import OrganizationMember as MemberRow
from schema.models import PartnerAccess as PartnerAccessRow
from schema.models import PartnerMapping as PartnerMappingRow
from schema.organizations.filters import OrganizationStatus
from schema.partners.types import Partner, partners_by_pk


def refusal(ctx: Context, action: str, organization_pk: int | None = None) -> Exception:
    """The refusal of ``action`` for one parent; with the organization, it says why a partner cannot manage it."""
    entry = ctx.cache.get(ORGANIZATION_ACCESS).get(organization_pk) if organization_pk is not None else None
    return ctx.refusal(action, entry.refusal() if entry is not None else None)


@strawberry.type(description="How the viewer reaches this organization.")
class ViewerAccess:
    via: AccessVia
    role: str | None
    notice: str | None


@strawberry.enum
class PartnerAccessStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


@strawberry.type(description="A partner's delegated admin access to the organization.")
class PartnerAccess:
    status: PartnerAccessStatus
    granted_at: dt.datetime
    revoked_at: dt.datetime | None
    partner_pk: strawberry.Private[int]
    revoked_by_pk: strawberry.Private[int | None]

    @batch_field
    @staticmethod
    async def partner(parents: list[PartnerAccess], ctx: Context) -> list[Partner | Exception]:
        return required(await partners_by_pk(ctx, [p.partner_pk for p in parents]), "Partner")

    @batch_field
    @staticmethod
    async def revoked_by(parents: list[PartnerAccess], ctx: Context) -> list[User | None]:
        return await visible_users(ctx, [p.revoked_by_pk for p in parents], as_actors=True)


@strawberry.enum
class MappedBy(enum.Enum):
    CUSTOMER = "CUSTOMER"
    PARTNER = "PARTNER"


@strawberry.type(description="One period during which the organization was mapped to a partner.")
class PartnerMapping:
    mapped_at: dt.datetime
    unmapped_at: dt.datetime | None
    mapped_by: MappedBy
    partner_pk: strawberry.Private[int]

    @batch_field
    @staticmethod
    async def partner(parents: list[PartnerMapping], ctx: Context) -> list[Partner | Exception]:
        return required(await partners_by_pk(ctx, [p.partner_pk for p in parents]), "Partner")


@strawberry.type(description="A user's role in an organization (business data).")
class OrganizationMember:
    role: OrganizationRole
    joined_at: dt.datetime
    user_pk: strawberry.Private[int]
    added_by_partner_pk: strawberry.Private[int | None] = None

    @classmethod
    def from_row(cls, row: MemberRow) -> OrganizationMember:
        return cls(role=OrganizationRole(row.role), joined_at=row.created_at, user_pk=row.user_id,
                   added_by_partner_pk=row.created_via_partner_id)

    @batch_field
    @staticmethod
    async def user(parents: list[OrganizationMember], ctx: Context) -> list[User | Exception]:
        return required(await users_by_pk(ctx, [p.user_pk for p in parents]), "User")

    @batch_field(description="The partner whose admin added this member through delegated admin access; the "
                             "membership ends when that partner's access is revoked. Null for the organization's own.")
    @staticmethod
    async def added_by_partner(parents: list[OrganizationMember], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.added_by_partner_pk for p in parents])


@strawberry.type(description="A customer organization.")
class Organization(Node):
    id: strawberry.ID
    name: str
    domain: str
    domain_verified: bool
    status: OrganizationStatus
    address: Address | None
    created_at: dt.datetime
    pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int | None]
    customer_partner_pk: strawberry.Private[int | None]
    verification_code: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: OrganizationRow) -> Organization:
        address = None
        if any((row.address_line1, row.address_line2, row.address_line3, row.city, row.postal_code, row.state, row.country)):
            address = Address(line1=row.address_line1, line2=row.address_line2, line3=row.address_line3,
                              city=row.city, postal_code=row.postal_code, state=row.state, country=row.country)
        return cls(
            id=strawberry.ID(encode_id("Organization", row.id)), name=row.name, domain=row.domain,
            domain_verified=row.domain_verified, status=OrganizationStatus(row.status), address=address,
            created_at=row.created_at, pk=row.id, partner_pk=row.partner_id,
            customer_partner_pk=row.customer_partner_id, verification_code=row.domain_verification_code,
        )

    @batch_field(description="Shown to the organization's admins and its partner's admins until the domain is verified.")
    @staticmethod
    async def domain_verification_code(parents: list[Organization], ctx: Context) -> list[str | None]:
        allowed = await allowed_organizations(ctx, "organization.read_verification_code", [p.pk for p in parents])
        return [p.verification_code if p.pk in allowed and not p.domain_verified else None for p in parents]

    @batch_field(description="The partner the organization is mapped to; null for a direct customer.")
    @staticmethod
    async def partner(parents: list[Organization], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.partner_pk for p in parents])

    @batch_field(description="The reseller that manages the account, if any.")
    @staticmethod
    async def customer_partner(parents: list[Organization], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.customer_partner_pk for p in parents])

    @batch_field(description="Every partner mapping, newest first.")
    @staticmethod
    async def partner_mappings(parents: list[Organization], ctx: Context) -> list[list[PartnerMapping]]:
        rows = (await ctx.session.scalars(
            select(PartnerMappingRow).where(PartnerMappingRow.organization_id.in_([p.pk for p in parents]))
            .order_by(PartnerMappingRow.mapped_at.desc(), PartnerMappingRow.id.desc())
        )).all()
        by_org: dict[int, list[PartnerMapping]] = {}
        for row in rows:
            by_org.setdefault(row.organization_id, []).append(PartnerMapping(
                mapped_at=row.mapped_at, unmapped_at=row.unmapped_at, mapped_by=MappedBy(row.mapped_by),
                partner_pk=row.partner_id))
        return [by_org.get(p.pk, []) for p in parents]

    @batch_field(description="The current partner's delegated admin access (the latest grant), if any.")
    @staticmethod
    async def partner_access(parents: list[Organization], ctx: Context) -> list[PartnerAccess | None]:
        rows = (await ctx.session.scalars(
            select(PartnerAccessRow).where(PartnerAccessRow.organization_id.in_([p.pk for p in parents]))
            .order_by(PartnerAccessRow.granted_at, PartnerAccessRow.id)
        )).all()
        latest: dict[int, PartnerAccessRow] = {}
        for row in rows:
            current = latest.get(row.organization_id)
            if current is None or row.status == "ACTIVE" or current.status != "ACTIVE":
                latest[row.organization_id] = row
        result: list[PartnerAccess | None] = []
        for parent in parents:
            access = latest.get(parent.pk)
            result.append(None if access is None else PartnerAccess(
                status=PartnerAccessStatus(access.status), granted_at=access.granted_at, revoked_at=access.revoked_at,
                partner_pk=access.partner_id, revoked_by_pk=access.revoked_by_user_id))
        return result

    @batch_field(description="How you reach this organization, and what that means.")
    @staticmethod
    async def viewer_access(parents: list[Organization], ctx: Context) -> list[ViewerAccess]:
        access = await organization_access(ctx, [p.pk for p in parents])
        result = []
        for parent in parents:
            entry = access.get(parent.pk)
            grant = entry.grants[0] if entry and entry.grants else None
            if grant is None:
                result.append(ViewerAccess(via=AccessVia.PLATFORM, role=None, notice=entry.refusal() if entry else None))
                continue
            notice = None
            if grant.via == "PARTNER_ADMIN":
                notice = f"You are currently managing your customer {parent.domain}"
            elif entry is not None and entry.refusal():
                notice = entry.refusal()
            elif grant.via == "PARTNER_MAPPING" and not parent.domain_verified:
                notice = f"The domain {parent.domain} is not verified; verify it to manage this organization."
            result.append(ViewerAccess(via=AccessVia(grant.via), role=grant.name.split(":", 1)[-1], notice=notice))
        return result

    @batch_field(description="The organization's users and their roles (business data).")
    @staticmethod
    async def members(parents: list[Organization], ctx: Context, first: int | None = None,
                      after: str | None = None) -> list[Connection[OrganizationMember] | Exception]:
        allowed = await allowed_organizations(ctx, "organization.read_members", [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        pages = await paginate_grouped(
            ctx, select(MemberRow).where(MemberRow.organization_id.in_(keys)), entity=MemberRow,
            sort=[SortKey(MemberRow.id)], page=PageArgs(first=first, after=after),
            to_node=OrganizationMember.from_row, group_by=MemberRow.organization_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, "organization.read_members", p.pk) for p in parents]


# Organization objects by primary key through one per-request cache (no access check: callers decide).
organizations_by_pk = ByPrimaryKey("organizations", OrganizationRow, Organization.from_row)


async def visible_organizations(ctx: Context, pks: list[int]) -> list[Organization | None]:
    """``node``/``organization(id)``: the organization when the viewer may read it, else None."""
    allowed = await allowed_organizations(ctx, "organization.read", pks)
    found = await organizations_by_pk(ctx, list(pks))
    return [o if o is not None and o.pk in allowed else None for o in found]
