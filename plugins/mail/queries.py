"""``Organization.mail``: the one way into an organization's mail, checked per organization in one batch."""

from __future__ import annotations

from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from plugins.mail import models
from plugins.mail.actions import READ
from plugins.mail.types import MailOrganization
from schema.access import allowed_organizations, organization_access
from schema.organizations.types import Organization


def read_refusal(ctx: Context, reason: str | None) -> Exception:
    return ctx.refusal(READ, reason)


@extends(Organization)
class OrganizationMailField:
    @batch_field(description="The organization's mail (business data: its members, the partner admin with active "
                             "delegated access, platform admins); null when the organization has no mail set up.")
    @staticmethod
    async def mail(parents: list[Organization], ctx: Context) -> list[MailOrganization | None | Exception]:
        access = await organization_access(ctx, [p.pk for p in parents]) if ctx.viewer.is_authenticated else {}
        allowed = sorted(await allowed_organizations(ctx, READ, access))
        rows = (await ctx.session.scalars(select(models.MailOrganization).where(
            models.MailOrganization.organization_id.in_(allowed)))).all() if allowed else []
        by_org = {row.organization_id: MailOrganization.from_row(row) for row in rows}
        allowed_set = set(allowed)
        result: list[MailOrganization | None | Exception] = []
        for parent in parents:
            if parent.pk in allowed_set:
                result.append(by_org.get(parent.pk))
            else:
                entry = access.get(parent.pk)
                result.append(read_refusal(ctx, entry.refusal() if entry else None))
        return result
