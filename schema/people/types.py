"""Partner members and API tokens as the graph shows them."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.models import ApiToken as ApiTokenRow
from gateway.relay import Node, encode_id
from schema.access import allowed_partners
from schema.common import PartnerRole, required
from schema.identity.types import User, users_by_pk
from schema.identity.viewer import Viewer
from schema.models import PartnerMember as PartnerMemberRow
from schema.organizations.types import refusal
from schema.partners.types import Partner, partners_by_pk


@strawberry.type(description="A user's role in a partner.")
class PartnerMember:
    role: PartnerRole
    joined_at: dt.datetime
    user_pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: PartnerMemberRow) -> PartnerMember:
        return cls(role=PartnerRole(row.role), joined_at=row.created_at, user_pk=row.user_id, partner_pk=row.partner_id)

    @batch_field
    @staticmethod
    async def user(parents: list[PartnerMember], ctx: Context) -> list[User | Exception]:
        return required(await users_by_pk(ctx, [p.user_pk for p in parents]), "User")

    @batch_field
    @staticmethod
    async def partner(parents: list[PartnerMember], ctx: Context) -> list[Partner | Exception]:
        return required(await partners_by_pk(ctx, [p.partner_pk for p in parents]), "Partner")


@strawberry.type(description="An API token; the secret itself is shown only once, when created.")
class ApiToken(Node):
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The first characters of the token, to recognise it.")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: ApiTokenRow) -> ApiToken:
        return cls(id=strawberry.ID(encode_id("ApiToken", row.id)), name=row.name, prefix=row.prefix,
                   created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at)


@extends(Partner)
class PartnerMemberFields:
    @batch_field(description="The partner's members and their roles.")
    @staticmethod
    async def members(parents: list[Partner], ctx: Context) -> list[list[PartnerMember] | Exception]:
        allowed = await allowed_partners(ctx, "partner.add_member", [p.pk for p in parents])
        rows = (await ctx.session.scalars(select(PartnerMemberRow).where(
            PartnerMemberRow.partner_id.in_(list(allowed))).order_by(PartnerMemberRow.id))).all() if allowed else []
        by_partner: dict[int, list[PartnerMember]] = {}
        for row in rows:
            by_partner.setdefault(row.partner_id, []).append(PartnerMember.from_row(row))
        return [by_partner.get(p.pk, []) if p.pk in allowed else refusal(ctx, "partner.add_member")
                for p in parents]


@extends(Viewer)
class ViewerTokenFields:
    @batch_field(description="Your API tokens (never their secrets).")
    @staticmethod
    async def api_tokens(parents: list[Viewer], ctx: Context) -> list[list[ApiToken]]:
        rows = (await ctx.session.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == ctx.viewer.user_id)
                                          .order_by(ApiTokenRow.id))).all()
        return [[ApiToken.from_row(r) for r in rows] for _ in parents]


async def own_api_tokens(ctx: Context, pks: list[int]) -> list[ApiToken | None]:
    """``node(id:)`` for API tokens: your own (platform admins: any); never the secret."""
    viewer = ctx.require_user()
    rows = {row.id: row for row in (await ctx.session.scalars(select(ApiTokenRow).where(ApiTokenRow.id.in_(pks)))).all()}
    return [ApiToken.from_row(rows[pk]) if pk in rows and (rows[pk].user_id == viewer.user_id or viewer.is_platform_admin)
            else None for pk in pks]
