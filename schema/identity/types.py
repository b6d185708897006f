"""Users as the graph shows them."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from gateway.context import Context
from gateway.models import User as UserRow
from gateway.relay import Node, encode_id
from gateway.request_cache import ByPrimaryKey
from schema.access import active_partner_roles, allowed_organizations
from schema.models import OrganizationMember, PartnerMember


@strawberry.type(description="A person (or a service) that signs in with a token.")
class User(Node):
    id: strawberry.ID
    email: str
    name: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(id=strawberry.ID(encode_id("User", row.id)), email=row.email, name=row.name, pk=row.id)


# Users by primary key (no access check: callers decide, or use visible_users), through one per-request
# cache (actor, revokedBy, members all share it).
users_by_pk = ByPrimaryKey("users", UserRow, User.from_row)


async def visible_users(ctx: Context, pks: list[int | None], *, as_actors: bool = False) -> list[User | None]:
    """Users the viewer may see (None elsewhere): themselves, their partners' members, the members of
    organizations whose members they may read, and everyone for platform staff. Who a user is counts as
    business data: a partner that only has the mapping does not learn the customer's people.

    ``as_actors``: the users acted on something the viewer may read (a subscription change, a revocation);
    then partner staff are shown too, so a customer sees which partner user changed its subscriptions."""
    viewer = ctx.viewer
    if not viewer.is_authenticated:
        return [None for _ in pks]
    found = await users_by_pk(ctx, pks)
    if viewer.platform_role in ("ADMIN", "ANALYST"):
        return found
    wanted = list({pk for pk in pks if pk is not None and pk != viewer.user_id})
    visible = {viewer.user_id}
    own_partners = list(await active_partner_roles(ctx))  # a disabled partner's staff list is not its to read
    if wanted and (own_partners or as_actors):
        staff = select(PartnerMember.user_id).where(PartnerMember.user_id.in_(wanted))
        if not as_actors:
            staff = staff.where(PartnerMember.partner_id.in_(own_partners))
        visible |= set((await ctx.session.scalars(staff)).all())
    rest = [pk for pk in wanted if pk not in visible]
    if rest:
        memberships = (await ctx.session.execute(select(OrganizationMember.user_id, OrganizationMember.organization_id)
                                                 .where(OrganizationMember.user_id.in_(rest)))).all()
        readable = await allowed_organizations(ctx, "organization.read_members", {org for _, org in memberships})
        visible |= {user for user, org in memberships if org in readable}
    return [user if user is not None and user.pk in visible else None for user in found]
