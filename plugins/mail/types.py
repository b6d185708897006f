"""The mail part of the graph: MailOrganization, MailUser, MailAlias, MailPolicy.

Every relation is a batch field: one statement per field per level, whatever the number of parents.
Access is checked once, on ``Organization.mail`` (see queries.py); what hangs below it was reached
through that check. ``node(id:)`` checks again (``visible_*`` below).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from typing import TypeVar

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from gateway.batch import batch_field
from gateway.context import Context
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from gateway.request_cache import ByPrimaryKey
from plugins.mail import models
from plugins.mail.actions import READ
from schema.access import allowed_organizations


@strawberry.enum(description="A mail user's role; one SUPER_ADMIN per organization.")
class MailUserRole(enum.Enum):
    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.type(description="A mailbox of the organization.")
class MailUser(Node):
    id: strawberry.ID
    email: str
    name: str
    role: MailUserRole
    profile_image_url: str | None
    status: str = strawberry.field(description="ACTIVE.")
    last_backup_at: dt.datetime | None
    created_at: dt.datetime
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.MailUser) -> MailUser:
        return cls(id=strawberry.ID(encode_id("MailUser", row.id)), email=row.email, name=row.name,
                   role=MailUserRole(row.role), profile_image_url=row.profile_image_url, status=row.status,
                   last_backup_at=row.last_backup_at, created_at=row.created_at, pk=row.id,
                   organization_pk=row.organization_id)

    @batch_field(description="The other addresses delivering to this mailbox, by address.")
    @staticmethod
    async def aliases(parents: list[MailUser], ctx: Context) -> list[list[MailAlias]]:
        rows = (await ctx.session.scalars(select(models.MailAlias).where(
            models.MailAlias.user_id.in_([p.pk for p in parents])).order_by(models.MailAlias.address))).all()
        by_user: dict[int, list[MailAlias]] = {}
        for row in rows:
            by_user.setdefault(row.user_id, []).append(MailAlias.from_row(row))
        return [by_user.get(p.pk, []) for p in parents]


@strawberry.type(description="Another address (in the organization's verified domain) delivering to a user's mailbox.")
class MailAlias(Node):
    id: strawberry.ID
    address: str
    created_at: dt.datetime
    pk: strawberry.Private[int]
    user_pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.MailAlias) -> MailAlias:
        return cls(id=strawberry.ID(encode_id("MailAlias", row.id)), address=row.address, created_at=row.created_at,
                   pk=row.id, user_pk=row.user_id, organization_pk=row.organization_id)

    @batch_field(description="The mailbox this alias delivers to.")
    @staticmethod
    async def user(parents: list[MailAlias], ctx: Context) -> list[MailUser | Exception]:
        found = await mail_users_by_pk(ctx, [p.user_pk for p in parents])
        # the foreign key keeps the user; should the row be missing, that alias alone fails
        return [user or RuntimeError("mail alias without its user") for user in found]


@strawberry.type(description="A named set of mail-flow rules: [{match: {from|to|subject|attachmentExtension}, action}].")
class MailPolicy(Node):
    id: strawberry.ID
    name: str
    rules: JSON
    created_at: dt.datetime
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.MailPolicy) -> MailPolicy:
        return cls(id=strawberry.ID(encode_id("MailPolicy", row.id)), name=row.name, rules=JSON(row.rules),
                   created_at=row.created_at, pk=row.id, organization_pk=row.organization_id)


@strawberry.type(description="An organization's mail: settings, super admin, users, aliases and policies.")
class MailOrganization:
    tfa_enabled: bool = strawberry.field(description="Two-factor authentication required for every mail user.")
    contacts_sync_enabled: bool
    referral_program_joined: bool
    referral_program_joined_at: dt.datetime | None
    dashboard: JSON = strawberry.field(description='The dashboard layout: {"widgets": [{type, row, column, title?}]}.')
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.MailOrganization) -> MailOrganization:
        return cls(tfa_enabled=row.tfa_enabled, contacts_sync_enabled=row.contacts_sync_enabled,
                   referral_program_joined=row.referral_program_joined_at is not None,
                   referral_program_joined_at=row.referral_program_joined_at, dashboard=JSON(row.dashboard),
                   pk=row.id, organization_pk=row.organization_id)

    @batch_field(description="The one mail user with the SUPER_ADMIN role.")
    @staticmethod
    async def super_admin(parents: list[MailOrganization], ctx: Context) -> list[MailUser | Exception]:
        rows = (await ctx.session.scalars(select(models.MailUser).where(
            models.MailUser.organization_id.in_([p.organization_pk for p in parents]),
            models.MailUser.role == "SUPER_ADMIN"))).all()
        by_org = {row.organization_id: MailUser.from_row(row) for row in rows}
        return [by_org.get(p.organization_pk) or RuntimeError("mail organization without a super admin")
                for p in parents]

    @batch_field(description="The mail users, by email address.")
    @staticmethod
    async def users(parents: list[MailOrganization], ctx: Context, first: int | None = None,
                    after: str | None = None) -> list[Connection[MailUser]]:
        keys = [p.organization_pk for p in parents]
        pages = await paginate_grouped(
            ctx, select(models.MailUser).where(models.MailUser.organization_id.in_(keys)), entity=models.MailUser,
            sort=[SortKey(models.MailUser.email), SortKey(models.MailUser.id)], page=PageArgs(first=first, after=after),
            to_node=MailUser.from_row, group_by=models.MailUser.organization_id, group_keys=keys,
        )
        return [pages[p.organization_pk] for p in parents]

    @batch_field(description="Every alias of the organization, by address.")
    @staticmethod
    async def aliases(parents: list[MailOrganization], ctx: Context) -> list[list[MailAlias]]:
        rows = (await ctx.session.scalars(select(models.MailAlias).where(
            models.MailAlias.organization_id.in_([p.organization_pk for p in parents]))
            .order_by(models.MailAlias.address))).all()
        return _grouped(parents, rows, MailAlias.from_row)

    @batch_field(description="Every mail policy of the organization, by name.")
    @staticmethod
    async def policies(parents: list[MailOrganization], ctx: Context) -> list[list[MailPolicy]]:
        rows = (await ctx.session.scalars(select(models.MailPolicy).where(
            models.MailPolicy.organization_id.in_([p.organization_pk for p in parents]))
            .order_by(models.MailPolicy.name, models.MailPolicy.id))).all()
        return _grouped(parents, rows, MailPolicy.from_row)


# The mail rows that belong to one organization, and the graph object a look-up makes of one
OrganizationRow = TypeVar("OrganizationRow", models.MailUser, models.MailAlias, models.MailPolicy)
GraphObject = TypeVar("GraphObject")


def _grouped(parents: list[MailOrganization], rows: Iterable[OrganizationRow],
             convert: Callable[[OrganizationRow], GraphObject]) -> list[list[GraphObject]]:
    by_org: dict[int, list[GraphObject]] = {}
    for row in rows:
        by_org.setdefault(row.organization_id, []).append(convert(row))
    return [by_org.get(p.organization_pk, []) for p in parents]


# ---------------------------------------------------------------- look-ups
# Mail users by primary key through one per-request cache (no access check: callers decide).
mail_users_by_pk = ByPrimaryKey("mail_users", models.MailUser, MailUser.from_row)


async def _visible(ctx: Context, row_type: type[OrganizationRow], convert: Callable[[OrganizationRow], GraphObject],
                   pks: list[int]) -> list[GraphObject | None]:
    rows = {row.id: row for row in (await ctx.session.scalars(select(row_type).where(row_type.id.in_(pks)))).all()}
    allowed = await allowed_organizations(ctx, READ, {row.organization_id for row in rows.values()})
    return [convert(rows[pk]) if pk in rows and rows[pk].organization_id in allowed else None for pk in pks]


async def visible_mail_users(ctx: Context, pks: list[int]) -> list[MailUser | None]:
    return await _visible(ctx, models.MailUser, MailUser.from_row, pks)


async def visible_mail_aliases(ctx: Context, pks: list[int]) -> list[MailAlias | None]:
    return await _visible(ctx, models.MailAlias, MailAlias.from_row, pks)


async def visible_mail_policies(ctx: Context, pks: list[int]) -> list[MailPolicy | None]:
    return await _visible(ctx, models.MailPolicy, MailPolicy.from_row, pks)
