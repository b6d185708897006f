"""``Organization.myProductAccount``: a field on a core type, batched, with access checked per parent."""

from __future__ import annotations

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from schema.access import allowed_organizations
from schema.organizations.types import Organization, refusal

from . import service
from .actions import READ
from .types import MyProductAccount


@extends(Organization)
class OrganizationMyProductFields:
    @batch_field(description="The organization's My product account; null when it has none. The organization's "
                             "admins, its partner's admins and analysts and platform staff read it.")
    @staticmethod
    async def my_product_account(
        parents: list[Organization], ctx: Context,
    ) -> list[MyProductAccount | None | Exception]:
        # refusable, so nullable: a refused parent gets its error at its path, its siblings keep their data
        allowed = await allowed_organizations(ctx, READ, [p.pk for p in parents])
        rows = await service.accounts_by_organization(ctx.session, allowed)
        return [refusal(ctx, READ, p.pk) if p.pk not in allowed
                else MyProductAccount.from_row(rows[p.pk]) if p.pk in rows else None
                for p in parents]
