"""Users as the graph shows them."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from gateway.context import Context
from gateway.models import User as UserRow
from gateway.relay import Node, encode_id


@strawberry.type(description="A person (or a service) that signs in with a token.")
class User(Node):
    id: strawberry.ID
    email: str
    name: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: UserRow) -> "User":
        return cls(id=strawberry.ID(encode_id("User", row.id)), email=row.email, name=row.name, pk=row.id)


async def users_by_pk(ctx: Context, pks: list[int | None]) -> list[User | None]:
    """Users by primary key, through one per-request cache (actor, revokedBy, members all share it)."""
    cache: dict[int, User | None] = ctx.cache.setdefault("users", {})
    wanted = [pk for pk in {pk for pk in pks if pk is not None} if pk not in cache]
    if wanted:
        for row in (await ctx.session.scalars(select(UserRow).where(UserRow.id.in_(wanted)))).all():
            cache[row.id] = User.from_row(row)
    return [cache.get(pk) if pk is not None else None for pk in pks]
