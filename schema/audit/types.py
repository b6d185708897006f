"""The audit log: what partners, developers and admins did, readable by the customer."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import ColumnElement, or_, select, true
from strawberry.scalars import JSON

from gateway.batch import batch_field
from gateway.composition import Query, extends
from gateway.context import Context
from gateway.relay import Connection, Node, PageArgs, SortKey, decode_pk, encode_id, paginate, paginate_grouped
from schema.access import active_partner_roles, allowed_organizations, visible_organizations_clause
from schema.common import AccessVia
from schema.identity.types import User, users_by_pk
from schema.models import AuditEvent as AuditEventRow
from schema.models import Organization as OrganizationRow
from schema.organizations.types import Organization, organizations_by_pk, refusal
from schema.partners.types import Partner, partners_by_pk

AUDIT_SORT = [SortKey(AuditEventRow.id, descending=True)]


@strawberry.type(description="One action taken on an organization or partner, newest first in every list.")
class AuditEvent(Node):
    id: strawberry.ID
    at: dt.datetime
    via: AccessVia
    action: str
    details: JSON
    actor_pk: strawberry.Private[int | None]
    partner_pk: strawberry.Private[int | None]
    organization_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: AuditEventRow) -> AuditEvent:
        return cls(id=strawberry.ID(encode_id("AuditEvent", row.id)), at=row.at, via=AccessVia(row.via),
                   action=row.action, details=JSON(row.details or {}), actor_pk=row.actor_user_id,
                   partner_pk=row.partner_id, organization_pk=row.organization_id)

    @batch_field
    @staticmethod
    async def actor(parents: list[AuditEvent], ctx: Context) -> list[User | None]:
        return await users_by_pk(ctx, [p.actor_pk for p in parents])

    @batch_field
    @staticmethod
    async def partner(parents: list[AuditEvent], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.partner_pk for p in parents])

    @batch_field
    @staticmethod
    async def organization(parents: list[AuditEvent], ctx: Context) -> list[Organization | None]:
        return await organizations_by_pk(ctx, [p.organization_pk for p in parents])


@extends(Organization)
class OrganizationAuditFields:
    @batch_field(description="What partners, developers and admins did in this organization, newest first.")
    @staticmethod
    async def audit_events(parents: list[Organization], ctx: Context, first: int | None = None,
                           after: str | None = None) -> list[Connection[AuditEvent] | Exception]:
        allowed = await allowed_organizations(ctx, "organization.read_audit", [p.pk for p in parents])
        own_only = await allowed_organizations(ctx, "organization.read_partner_audit",
                                               [p.pk for p in parents if p.pk not in allowed])
        keys = [p.pk for p in parents if p.pk in allowed or p.pk in own_only]
        pages = await paginate_grouped(
            ctx, select(AuditEventRow).where(AuditEventRow.organization_id.in_(keys),
                                             await _own_partner_events_only(ctx, own_only)),
            entity=AuditEventRow, sort=AUDIT_SORT, page=PageArgs(first=first, after=after),
            to_node=AuditEvent.from_row, group_by=AuditEventRow.organization_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, "organization.read_audit") for p in parents]


async def _own_partner_events_only(ctx: Context, organization_pks: set[int]) -> ColumnElement[bool]:
    """In ``organization_pks`` (read through the mapping only), just the events of the viewer's own partners."""
    if not organization_pks:
        return true()
    own = [pk for pk, role in (await active_partner_roles(ctx)).items() if role == "PARTNER_ADMIN"]
    return AuditEventRow.organization_id.not_in(list(organization_pks)) | AuditEventRow.partner_id.in_(own)


@extends(Query)
class AuditQueries:
    @strawberry.field(description="Audit events you may read: platform staff all; partner members their partners' "
                                  "actions; organization admins their organization's.")
    async def audit_events(self, info: strawberry.Info[Context, None], first: int | None = None, after: str | None = None,
                           organization_id: strawberry.ID | None = None, partner_id: strawberry.ID | None = None,
                           action: str | None = None) -> Connection[AuditEvent]:
        ctx: Context = info.context
        viewer = ctx.require_user()
        stmt = select(AuditEventRow)
        if viewer.platform_role not in ("ADMIN", "ANALYST"):
            stmt = stmt.where(await _readable_audit_clause(ctx))
        if organization_id is not None:
            stmt = stmt.where(AuditEventRow.organization_id == decode_pk(organization_id, "Organization"))
        if partner_id is not None:
            stmt = stmt.where(AuditEventRow.partner_id == decode_pk(partner_id, "Partner"))
        if action is not None:
            stmt = stmt.where(AuditEventRow.action == action)
        return await paginate(ctx, stmt, entity=AuditEventRow, sort=AUDIT_SORT, page=PageArgs(first=first, after=after),
                              to_node=AuditEvent.from_row)


async def _readable_audit_clause(ctx: Context) -> ColumnElement[bool]:
    """The SQL form of ``organization.read_audit`` and ``organization.read_partner_audit`` (through the mapping
    alone, only what the viewer's partners did), from the same grant rules as the per-object checks; plus
    partner-level events for the partner's admins and analysts."""
    roles = await active_partner_roles(ctx)
    admin_partners = [pk for pk, role in roles.items() if role == "PARTNER_ADMIN"]
    partner_readers = [pk for pk, role in roles.items() if role in ("PARTNER_ADMIN", "PARTNER_ANALYST")]
    readable = select(OrganizationRow.id).where(await visible_organizations_clause(ctx, "organization.read_audit"))
    own_events = select(OrganizationRow.id).where(
        await visible_organizations_clause(ctx, "organization.read_partner_audit"))
    return or_(
        AuditEventRow.organization_id.in_(readable),
        AuditEventRow.organization_id.in_(own_events) & AuditEventRow.partner_id.in_(admin_partners),
        AuditEventRow.organization_id.is_(None) & AuditEventRow.partner_id.in_(partner_readers),
    )


async def visible_audit_events(ctx: Context, pks: list[int]) -> list[AuditEvent | None]:
    """``node(id:)`` for audit events: the same scope as ``auditEvents``."""
    viewer = ctx.require_user()
    rows = {row.id: row for row in (await ctx.session.scalars(
        select(AuditEventRow).where(AuditEventRow.id.in_(pks)))).all()}
    organization_pks = [r.organization_id for r in rows.values() if r.organization_id is not None]
    readable_orgs = await allowed_organizations(ctx, "organization.read_audit", organization_pks)
    own_events_orgs = await allowed_organizations(ctx, "organization.read_partner_audit", organization_pks)
    roles = await active_partner_roles(ctx)
    partner_readers = {pk for pk, role in roles.items() if role in ("PARTNER_ADMIN", "PARTNER_ANALYST")}
    partner_admins = {pk for pk, role in roles.items() if role == "PARTNER_ADMIN"}

    def visible(row: AuditEventRow) -> bool:
        if viewer.platform_role in ("ADMIN", "ANALYST") or row.organization_id in readable_orgs:
            return True
        if row.organization_id in own_events_orgs:
            return row.partner_id in partner_admins
        return row.organization_id is None and row.partner_id in partner_readers

    return [AuditEvent.from_row(rows[pk]) if pk in rows and visible(rows[pk]) else None for pk in pks]
